/**
 * The checkout's side of the checkout stage: load that asks for decisions the way a checkout does, and
 * records every answer with its time. `redeemAtRate` calls `RedemptionClient.redeem()` at a fixed rate
 * from one client (the waits overlap); `httpAtRate` and `httpIntake` drive `redeem serve` with
 * autocannon (npm, pinned), which runs in this process, on the same cores as the pipeline.
 */
import autocannon from 'autocannon';

import { RateLimiter } from '../lib/progress.js';
import { DecisionTimeoutError, type RedemptionOutcome } from '../producers/decision-waiter.js';
import type { RedemptionRequested } from '../schemas/types.js';

/** One request's answer: a decision (with the requests topic's place of the message it decided), or none in time. */
export interface Answer {
  couponCode: string;
  requestId: string;
  /** ms since the epoch: the call (redeem) or the request written to the socket (HTTP) */
  startedAt: number;
  answeredAt: number;
  decided: { decision: string; reason: string | null; source: string } | null;
}

/** A request as a checkout posts it (the API takes occurred_at as ISO-8601). */
export const bodyOf = (r: RedemptionRequested): string => JSON.stringify({ ...r, occurred_at: r.occurred_at.toISOString() });

const answerOf = (r: { coupon_code: string; request_id: string }, startedAt: number, o: RedemptionOutcome | null): Answer => ({
  couponCode: r.coupon_code,
  requestId: r.request_id,
  startedAt,
  answeredAt: Date.now(),
  decided: o && { decision: o.decision, reason: o.reason, source: `${o.record.source_partition}/${o.record.source_offset}` },
});

/**
 * Calls `redeem` for each request at `perSecond` (a hundredth of a second's worth every 10 ms, none
 * awaited before the next: many waits at once on one client) and answers every call's outcome once all
 * are settled. A wait that runs out is an answer without a decision; any other failure fails the run.
 */
export async function redeemAtRate(
  redeem: (r: RedemptionRequested, o: { timeoutMs: number }) => Promise<RedemptionOutcome>,
  requests: Iterable<RedemptionRequested>,
  perSecond: number,
  timeoutMs: number,
): Promise<Answer[]> {
  const limiter = new RateLimiter(perSecond);
  const perTick = Math.max(1, Math.round(perSecond / 100));
  const calls: Promise<Answer>[] = [];
  for (const r of requests) {
    const startedAt = Date.now();
    calls.push(
      redeem(r, { timeoutMs }).then(
        (outcome) => answerOf(r, startedAt, outcome),
        (error: unknown) => {
          if (error instanceof DecisionTimeoutError && error.acknowledged) return answerOf(r, startedAt, null);
          throw new Error(`redeem() of request ${r.request_id} failed`, { cause: error });
        },
      ),
    );
    if (calls.length % perTick === 0) await limiter.wait(calls.length);
  }
  return Promise.all(calls);
}

/** An autocannon load: every answer (200 with a decision, 202 without), and whatever else happened. */
export interface HttpLoad {
  answers: Answer[];
  /** responses other than 200 and 202, connection errors and time-outs: each kind once */
  failures: string[];
  /**
   * connections the server reset (ECONNRESET, EPIPE): autocannon reconnects and sends a new request;
   * the one in flight may or may not have been accepted (the topic is verified either way)
   */
  connectionResets: number;
  /** requests autocannon gave up on after its time-out (the server had not answered: it fell behind) */
  timedOut: number;
  timeoutSeconds: number;
  /** from the first request to the last answer */
  seconds: number;
  connections: number;
}

interface CannonRun {
  url: string;
  next: () => RedemptionRequested;
  connections: number;
  /** requests per second over all its connections; none: each connection sends as soon as it has its answer */
  perSecond?: number;
  /** requests in all (with `perSecond`), else the run lasts `seconds` */
  amount?: number;
  seconds?: number;
  /** autocannon's time-out per request, s */
  timeoutSeconds: number;
}

type Sent = Pick<RedemptionRequested, 'coupon_code' | 'request_id'>;

/**
 * One autocannon run of `POST url`, a new request in each body. A response's body and its time are
 * paired: autocannon calls `onResponse` and then emits `response` for the same response, synchronously;
 * its per-request `context` is a new object for each request (one request in the list), so it names the
 * request a body answers.
 */
function cannon(
  run: CannonRun,
  onAnswer: (a: Answer) => void,
  failures: Set<string>,
  onReset: () => void,
  onTimeout: () => void,
): { done: Promise<autocannon.Result>; stop(): void } {
  let pending: { status: number; body: string; request: Sent | undefined } | null = null;
  const sent = new WeakMap<object, Sent>();
  let finished!: (r: autocannon.Result) => void;
  let failed!: (e: unknown) => void;
  const done = new Promise<autocannon.Result>((resolve, reject) => ((finished = resolve), (failed = reject)));
  const instance = autocannon(
    {
      url: run.url,
      connections: run.connections,
      ...(run.perSecond ? { overallRate: run.perSecond } : {}),
      ...(run.amount ? { amount: run.amount } : { duration: run.seconds ?? 1 }),
      timeout: run.timeoutSeconds,
      requests: [
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          setupRequest: (req, context) => {
            const r = run.next();
            sent.set(context, r);
            return { ...req, body: bodyOf(r) };
          },
          onResponse: (status, body, context) => (pending = { status, body, request: sent.get(context) }),
        },
      ],
    },
    (error: unknown, result) => (error ? failed(error) : finished(result)),
  );
  instance.on('response', (_client, status, _bytes, fractionalMs) => {
    const p = pending;
    pending = null;
    if (!p?.request || p.status !== status) return void failures.add(`a response (HTTP ${status}) that could not be paired with its request`);
    const now = Date.now();
    // autocannon times a response in fractions of a millisecond; a tenth is plenty.
    const ms = Math.round(fractionalMs * 10) / 10;
    const base = { couponCode: p.request.coupon_code, requestId: p.request.request_id, startedAt: now - ms, answeredAt: now };
    if (status === 202) return onAnswer({ ...base, decided: null });
    if (status !== 200) return void failures.add(`HTTP ${status}: ${p.body.slice(0, 300)}`);
    const d = JSON.parse(p.body) as { decision: string; reason: string | null; record: { source_partition: number; source_offset: number } };
    onAnswer({ ...base, decided: { decision: d.decision, reason: d.reason, source: `${d.record.source_partition}/${d.record.source_offset}` } });
  });
  instance.on('reqError', (error: unknown) => {
    const code = (error as { code?: string } | null)?.code;
    if (code === 'ECONNRESET' || code === 'EPIPE') return onReset();
    // autocannon's own time-out: counted (at the time-out) rather than failing the run.
    if (error instanceof Error && error.message === 'request timed out') return onTimeout();
    failures.add(`request error: ${error instanceof Error ? error.message : String(error)}`);
  });
  return { done, stop: () => instance.stop() };
}

/** Runs autocannons (started `staggerMs` apart) to their end, or stops them and fails past `deadlineMs`. */
async function cannons(runs: CannonRun[], staggerMs: number, deadlineMs: number): Promise<HttpLoad> {
  const answers: Answer[] = [];
  const failures = new Set<string>();
  let resets = 0;
  let timedOut = 0;
  const started: { stop(): void }[] = [];
  const startedAt = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the HTTP load did not end within ${deadlineMs / 1000} s (${answers.length} answers so far)`)), deadlineMs);
  });
  const all = Promise.all(
    runs.map(async (run, i) => {
      await new Promise((resolve) => setTimeout(resolve, i * staggerMs));
      const c = cannon(
        run,
        (a) => answers.push(a),
        failures,
        () => (resets += 1),
        () => (timedOut += 1),
      );
      started.push(c);
      return c.done;
    }),
  );
  try {
    await Promise.race([all, deadline]);
  } catch (error) {
    for (const c of started) c.stop();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  // A loop, not Math.max(...list): a spread of 100,000 answers overflows the stack.
  const lastAnswer = answers.reduce((last, a) => Math.max(last, a.answeredAt), startedAt);
  const seconds = (lastAnswer - startedAt) / 1000;
  return {
    answers,
    failures: [...failures],
    connectionResets: resets,
    timedOut,
    timeoutSeconds: runs[0]?.timeoutSeconds ?? 0,
    seconds,
    connections: runs.reduce((n, r) => n + r.connections, 0),
  };
}

/** Most connections the rate-limited load opens (each one a file descriptor here and in redeem serve). */
const MAX_CONNECTIONS = 8000;

/**
 * `POST url?wait=waitMs` at `perSecond` for `seconds`. autocannon's rate is per connection and per
 * second (a connection sends its share as soon as it may, then waits for the next second), so the
 * load is split among 20 autocannons started a twentieth of a second apart, and each connection sends
 * one request a second (up to 8,000 connections): the requests go out a twentieth of a second's worth at a
 * time, and the offered rate holds while answers take under a second. Slower answers hold their
 * connections, and the achieved rate falls below the offered one (reported).
 */
export function httpAtRate(o: { url: string; next: () => RedemptionRequested; perSecond: number; seconds: number; waitMs: number }): Promise<HttpLoad> {
  // 20 parts also open their connections in 20 steps: thousands at once overflowed redeem serve's
  // accept queue (Node's listen backlog is 511), and the kernel reset connections.
  const parts = Math.max(1, Math.min(20, o.perSecond));
  const perConnection = Math.ceil(o.perSecond / MAX_CONNECTIONS);
  const runs = Array.from({ length: parts }, (_, i): CannonRun => {
    const perSecond = Math.floor(o.perSecond / parts) + (i < o.perSecond % parts ? 1 : 0);
    return {
      url: `${o.url}/v1/redemptions?wait=${o.waitMs}`,
      next: o.next,
      connections: Math.max(1, Math.ceil(perSecond / perConnection)),
      perSecond,
      amount: perSecond * o.seconds,
      timeoutSeconds: o.waitMs / 1000 + 5,
    };
  });
  return cannons(runs, 1000 / parts, (o.seconds * 3 + o.waitMs / 1000 + 60) * 1000);
}

/** `POST url` without a wait, as fast as `connections` connections get answers, for `seconds`. */
export function httpIntake(o: { url: string; next: () => RedemptionRequested; connections: number; seconds: number }): Promise<HttpLoad> {
  const run: CannonRun = { url: `${o.url}/v1/redemptions`, next: o.next, connections: o.connections, seconds: o.seconds, timeoutSeconds: 30 };
  return cannons([run], 0, (o.seconds * 3 + 60) * 1000);
}
