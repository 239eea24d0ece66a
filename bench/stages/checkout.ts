/**
 * The checkout gets its answer (issue 19): at a fraction (50%) of the 1-process drain rate, the time a
 * checkout waits for its decision, through `RedemptionClient.redeem()` (many waits at once on one client)
 * and through `redeem serve`'s `POST /v1/redemptions?wait=MS` (autocannon); then what one `redeem serve`
 * accepts per second without a wait, against the drain rate. Each load runs in a namespace of its own:
 * every request is answered, every decision answered is the one MySQL stored, and the namespace's state
 * is verified. A missed goal names what holds it, from the measurements (bench/slowest-requests.ts, the
 * consumer's stage histograms, the processes' CPU).
 */

import type { Config } from '../../lib/config.js';
import { RedemptionClient } from '../../producers/redemption-producer.js';
import type { RedemptionDecided, RedemptionRequested } from '../../schemas/types.js';
import { ServeProcess } from '../../scripts/harness/serve-process.js';
import { type Answer, httpAtRate, httpIntake, redeemAtRate } from '../checkout-load.js';
import { hostCpuSeconds, processCpuSeconds } from '../cpu.js';
import { summarise } from '../latency.js';
import type { CheckoutIntakeRun, CheckoutRun, CheckoutWaitRun } from '../result.js';
import { heldBy, slowestSegments, type Timed } from '../slowest-requests.js';
import { type BenchContext, round } from './context.js';
import { capacityRun } from './drain.js';
import { type ConsumedRun, createTimesOf, withConsumer } from './load-run.js';
import { answersAgree } from './stored-decisions.js';

/** The goals of issue 19. */
export const CHECKOUT_GOALS = { p99Ms: 100, intakeOverDrain: 1 } as const;
/** How long a wait may take: far above the goal, so that a slow answer is measured rather than cut off. */
const WAIT_MS = 10_000;
/** Connections of the intake run: enough to keep one `redeem serve` busy (its client batches what arrives together). */
const INTAKE_CONNECTIONS = 100;
export const LOAD_GENERATOR = 'autocannon 9.0.0, in the bench process, on the same 2 cores as the pipeline, its services and redeem serve';

export async function checkoutStage(ctx: BenchContext): Promise<CheckoutRun> {
  const drain = (await capacityRun(ctx)).perSecond;
  const rate = Math.max(1, Math.round(drain * ctx.o.checkoutFraction));
  return {
    fractionOfCapacity: ctx.o.checkoutFraction,
    drainPerSecond: drain,
    loadGenerator: LOAD_GENERATOR,
    redeem: await redeemRun(ctx, rate),
    http: await httpWaitRun(ctx, rate),
    intake: await intakeRun(ctx, drain),
  };
}

/** A namespace of the stage with its own requests topic, prepared (its topics' partitions answer: see createTopicsWithLeaders). */
async function namespace(ctx: BenchContext, run: string): Promise<Config> {
  const c = { ...ctx.ns(run), redemptionTopic: `bench-${ctx.id}-${run}.requested` };
  await ctx.prepare(c);
  return c;
}

/** Fresh requests, one per call, for a load whose count is not known ahead (autocannon builds one more per connection). */
function supply(requests: Iterator<RedemptionRequested>): () => RedemptionRequested {
  return () => {
    const next = requests.next();
    if (next.done) throw new Error('the checkout simulation ran out of requests');
    return next.value;
  };
}

async function redeemRun(ctx: BenchContext, rate: number): Promise<CheckoutWaitRun> {
  const { o, rt } = ctx;
  const c = await namespace(ctx, 'chkr');
  ctx.print(`checkout: redeem() at ${rate}/s (${o.checkoutFraction * 100}% of drain capacity) for ${o.checkoutSeconds} s, one client`);
  const codec = await rt.registry().codecFor<RedemptionRequested>('requested', c.redemptionTopic);
  const client = await RedemptionClient.connect(rt.kafka(), codec, c.redemptionTopic, {
    clientId: `bench-${ctx.id}-checkout`,
    sendTimeoutMs: 30_000,
    audit: { topic: c.auditTopic, decoder: rt.registry().decoderFor<RedemptionDecided>('decided') },
  });
  try {
    // Its audit reader joins its group before the clock starts, as a checkout's would at start-up.
    await client.startDecisions();
    const run = await withConsumer(rt, c, ctx.envOf(c), async () => {
      const answers = await redeemAtRate((r, w) => client.redeem(r, w), ctx.simulation(rate * o.checkoutSeconds, o.seed + 19), rate, WAIT_MS);
      return { answers };
    });
    return await waitResult(ctx, c, run, { how: 'RedemptionClient.redeem(), one client, the waits overlapping', offered: rate });
  } finally {
    await client.disconnect();
  }
}

async function httpWaitRun(ctx: BenchContext, rate: number): Promise<CheckoutWaitRun> {
  const { o } = ctx;
  const c = await namespace(ctx, 'chkh');
  ctx.print(`checkout: POST /v1/redemptions?wait=${WAIT_MS} at ${rate}/s for ${o.checkoutSeconds} s (autocannon)`);
  const serve = await ServeProcess.start({ ...process.env, ...ctx.envOf(c) }, ['--max-wait', String(WAIT_MS)]);
  try {
    const next = supply(ctx.simulation(rate * o.checkoutSeconds * 2 + 10_000, o.seed + 20));
    const run = await withConsumer(ctx.rt, c, ctx.envOf(c), async () => {
      const { load, cpu } = await measureCpu(serve.child.pid!, () =>
        httpAtRate({ url: serve.url, next, perSecond: rate, seconds: o.checkoutSeconds, waitMs: WAIT_MS }),
      );
      if (load.failures.length > 0) throw new Error(`POST ?wait through redeem serve failed: ${load.failures.slice(0, 5).join('; ')}${serveSaid(serve)}`);
      // Requests autocannon gave up on are still in redeem serve's hands and reach Kafka later: stopped
      // (it finishes them), nothing more arrives, and the requests counted for the drain are all there are.
      await serve.stop();
      return { ...load, cpu };
    });
    const { connections, connectionResets, timedOut, timeoutSeconds, cpu } = run.value;
    const how = `POST /v1/redemptions?wait=${WAIT_MS} to one redeem serve, ${connections} connections`;
    const unanswered = { count: timedOut, ms: timeoutSeconds * 1000 };
    const r = await waitResult(ctx, c, run, { how, offered: rate, unanswered });
    // Requests left unanswered: redeem serve fell behind the offered rate; what held it, by CPU.
    const held =
      timedOut > 0
        ? `redeem serve fell behind: ${timedOut} requests unanswered after ${timeoutSeconds} s; of the answered, ${heldBy(r.slowest, r.consumer.stages)}; ${cpuFigures(cpu)}`
        : r.heldBy;
    if (timedOut > 0) ctx.print(`  ${held}`);
    return { ...r, connectionResets, unanswered: timedOut, cpu, heldBy: held };
  } finally {
    await serve.stop();
  }
}

/** The rate the requests went out at: from the first to the last one sent (the answers' tail left out). */
function issuedPerSecond(answers: readonly Answer[]): number {
  // Loops, not Math.max(...list): a spread of 100,000 answers overflows the stack.
  const first = answers.reduce((t, a) => Math.min(t, a.startedAt), Infinity);
  const last = answers.reduce((t, a) => Math.max(t, a.startedAt), -Infinity);
  const span = (last - first) / 1000;
  return span > 0 ? Math.round((answers.length - 1) / span) : answers.length;
}

/** What redeem serve wrote on stderr, for a failure's message. */
function serveSaid(serve: ServeProcess): string {
  return serve.stderr.trim() === '' ? '' : `; redeem serve said: ${serve.stderr.slice(-600)}`;
}

/** A wait run's figures from its answers and the two topics' stamps, checked against MySQL and verified. */
async function waitResult(
  ctx: BenchContext,
  c: Config,
  run: ConsumedRun<{ answers: Answer[] }>,
  o: { how: string; offered: number; unanswered?: { count: number; ms: number } },
): Promise<CheckoutWaitRun> {
  const { answers } = run.value;
  const times = await createTimesOf(ctx.rt, c, run.total);
  const timed: Timed[] = [];
  let unstamped = 0;
  for (const a of answers) {
    const t = a.decided && times.get(a.decided.source);
    if (!a.decided) continue;
    if (!t) unstamped += 1;
    else timed.push({ send: t.sent - a.startedAt, pipeline: t.decided - t.sent, answer: a.answeredAt - t.decided });
  }
  // Every answer counts, a wait that ran out with its whole time: a timed-out request must not flatter p99.
  // A tenth of a millisecond: autocannon's times are fractional, and their differences carry float noise.
  const latency = summarise([
    ...answers.map((a) => Math.round((a.answeredAt - a.startedAt) * 10) / 10),
    ...Array.from({ length: o.unanswered?.count ?? 0 }, () => o.unanswered!.ms),
  ]);
  const slowest = slowestSegments(timed);
  const met = latency.p99 <= CHECKOUT_GOALS.p99Ms;
  const answersMatchMySql = (await answersAgree(c, answers)) && unstamped === 0;
  const r: CheckoutWaitRun = {
    how: o.how,
    offeredPerSecond: o.offered,
    achievedPerSecond: issuedPerSecond(answers),
    requests: answers.length,
    decidedInTime: answers.filter((a) => a.decided).length,
    ...latency,
    answersMatchMySql,
    slowest,
    consumer: { endToEnd: run.consumer.endToEnd, stages: run.consumer.stages },
    goalP99Ms: CHECKOUT_GOALS.p99Ms,
    met,
    heldBy: met ? null : heldBy(slowest, run.consumer.stages),
    correct: answersMatchMySql && run.total >= answers.length && (await ctx.check(c)),
  };
  ctx.print(
    `  ${r.requests} requests (${r.achievedPerSecond}/s), ${r.decidedInTime} decided within the wait; p50 ${r.p50} ms, p95 ${r.p95} ms, p99 ${r.p99} ms, max ${r.max} ms (goal p99 <= ${r.goalP99Ms} ms: ${met ? 'met' : 'NOT met'}); answers match MySQL: ${answersMatchMySql}; correct: ${r.correct}`,
  );
  if (r.heldBy) ctx.print(`  p99 held by ${r.heldBy}`);
  return r;
}

async function intakeRun(ctx: BenchContext, drain: number): Promise<CheckoutIntakeRun> {
  const { o } = ctx;
  const c = await namespace(ctx, 'chki');
  ctx.print(`checkout: POST /v1/redemptions without wait, ${INTAKE_CONNECTIONS} connections for ${o.checkoutSeconds} s (autocannon), then drained`);
  const serve = await ServeProcess.start({ ...process.env, ...ctx.envOf(c) });
  let measured: { load: Awaited<ReturnType<typeof httpIntake>>; cpu: CheckoutIntakeRun['cpu'] };
  try {
    measured = await measureCpu(serve.child.pid!, () =>
      httpIntake({ url: serve.url, next: supply(ctx.simulation(10_000_000, o.seed + 21)), connections: INTAKE_CONNECTIONS, seconds: o.checkoutSeconds }),
    );
  } finally {
    await serve.stop();
  }
  const { load, cpu } = measured;
  if (load.failures.length > 0) throw new Error(`POST without wait through redeem serve failed: ${load.failures.slice(0, 5).join('; ')}${serveSaid(serve)}`);
  // No consumer ran during the intake (the drain rate was measured without producers too); now one decides it all.
  const run = await withConsumer(ctx.rt, c, ctx.envOf(c), async () => undefined);
  const accepted = load.answers.length;
  const perSecond = Math.round(accepted / load.seconds);
  const met = perSecond >= drain * CHECKOUT_GOALS.intakeOverDrain;
  const r: CheckoutIntakeRun = {
    how: `POST /v1/redemptions to one redeem serve, ${INTAKE_CONNECTIONS} connections, no consumer running`,
    connections: INTAKE_CONNECTIONS,
    seconds: round(load.seconds),
    accepted,
    perSecond,
    drainPerSecond: drain,
    connectionResets: load.connectionResets,
    cpu,
    met,
    heldBy: met ? null : intakeHeldBy(cpu),
    // Requests in flight when autocannon stopped may be in Kafka without their 202 counted: at most one per connection.
    correct: run.total >= accepted && run.total <= accepted + INTAKE_CONNECTIONS && (await ctx.check(c)),
  };
  ctx.print(
    `  ${accepted} accepted in ${r.seconds} s: ${perSecond}/s against a drain of ${drain}/s (goal intake >= drain: ${met ? 'met' : 'NOT met'}); CPU per s: redeem serve ${cpu.serve}, autocannon ${cpu.loadGenerator}, host ${cpu.hostBusyCores} cores busy; correct: ${r.correct}`,
  );
  if (r.heldBy) ctx.print(`  intake held by ${r.heldBy}`);
  return r;
}

/** Runs a load and measures the CPU each side used per second of it. */
async function measureCpu<T>(servePid: number, load: () => Promise<T>): Promise<{ load: T; cpu: CheckoutIntakeRun['cpu'] }> {
  const serve0 = processCpuSeconds(servePid);
  const self0 = process.cpuUsage();
  const host0 = hostCpuSeconds();
  const started = Date.now();
  const result = await load();
  const wall = (Date.now() - started) / 1000;
  const self = process.cpuUsage(self0);
  const host = hostCpuSeconds();
  return {
    load: result,
    cpu: {
      serve: round((processCpuSeconds(servePid) - serve0) / wall),
      loadGenerator: round((self.user + self.system) / 1e6 / wall),
      hostBusyCores: round((host.busy - host0.busy) / wall),
    },
  };
}

/** What held the intake below the drain rate, by the CPU each side used (1.0 = one whole core). */
const cpuFigures = (cpu: CheckoutIntakeRun['cpu']) =>
  `CPU per s: redeem serve ${cpu.serve}, autocannon ${cpu.loadGenerator}, the host ${cpu.hostBusyCores} of 2 cores`;

export function intakeHeldBy(cpu: CheckoutIntakeRun['cpu']): string {
  const figures = cpuFigures(cpu);
  if (cpu.serve >= 0.9) return `redeem serve's CPU: its one event loop used ${cpu.serve} of a core per second (${figures})`;
  if (cpu.hostBusyCores >= 1.8) return `the host's 2 cores, busy ${cpu.hostBusyCores} of 2 (${figures})`;
  if (cpu.loadGenerator >= 0.9) return `the load generator's CPU (${figures})`;
  // What else it waits on (Kafka's acknowledgements, the loopback) was not measured: said as such.
  return `no process used a whole core on average (${figures}); what redeem serve waited on was not measured`;
}
