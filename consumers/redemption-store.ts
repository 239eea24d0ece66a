/**
 * The MySQL side of a flush, as load → decide → write in one READ COMMITTED transaction: lock the
 * batch's coupons and read what the rules need (sql/statements.ts), decide every request in order
 * (decide-batch.ts, pure), write all effects as multi-row INSERT ... ON DUPLICATE KEY UPDATE statements.
 * Two round trips where the pool allows several statements in one (sql/session.ts): the transaction's
 * start with the lock and the reads, then the writes with the COMMIT.
 *
 * The coupons' row locks serialise flushes that touch the same coupon, so a member that lost its
 * partitions but is still flushing cannot interleave with the new owner; and the decisions table's
 * primary key refuses a second decision for a request even then (the flush fails and is retried, and
 * the retry sees the first decision).
 *
 * That primary key also lets a flush leave out the read of prior decisions when Redis answered for every
 * request (see `FlushOptions.cacheAnswered`): a request MySQL has decided but Redis forgot makes the
 * decisions INSERT fail, and the flush is rolled back and made again with the read.
 *
 * The Redis lookup need not end before the transaction starts (`FlushOptions.selected`): the first round
 * trip locks and reads for every request of the batch while Redis says which of them it knows, and only
 * the others are decided. A round trip leaves each request's path (about 2 ms at half load, more in the
 * tail); what it reads for the requests Redis knew is true of MySQL and so harmless to the rules.
 */
import type { Knex } from 'knex';

import type { RedemptionDecided } from '../schemas/types.js';
import { type BatchDecisions, decideBatch, type LoadedState } from './decide-batch.js';
import { decisionKey } from './decision-records.js';
import { DryRunState } from './dry-run-state.js';
import { inTransaction, type SqlSession } from './sql/session.js';
import {
  countUserRedemptions,
  insertDecisions,
  type KeyPair,
  lockCoupons,
  selectPriorDecisions,
  selectRedemptions,
  updateCouponCounts,
  upsertRedemptions,
} from './sql/statements.js';
import type { SourcedRequest, StoredDecision } from './types.js';

export interface FlushResult {
  /** One audit record per input request, in input order. */
  records: RedemptionDecided[];
  /** Per record: true when it repeats a decision already stored for the same message (a redelivery). */
  reemitted: boolean[];
  /** Decisions this flush made and committed (none in a dry run): the ones to cache in Redis. */
  committed: StoredDecision[];
  statements: number;
}

/**
 * How a flush ends: `commit` (after `beforeCommit`, the fault-injection point just before the writes
 * and the commit, which go in one round trip)
 * or `dry-run`, which decides and writes everything as usual, then rolls back: the result says what
 * would change, and nothing does.
 */
export type FlushMode = { kind: 'commit'; beforeCommit?(): void } | { kind: 'dry-run' };

export interface FlushOptions {
  consumerId: string;
  /** The decision time recorded on every decision (epoch millis). */
  decidedAt: number;
  mode: FlushMode;
  /**
   * Redis answered the lookup for every request and knew none of them as decided. MySQL then holds a
   * decision for one of them only where Redis lost it (its TTL, a restart, a crash between the MySQL
   * commit and the Redis update), so the flush leaves out the read of prior decisions, one statement
   * and a primary-key lookup per request, and lets the decisions table's primary key find such a request
   * instead (the flush is then made again with the read). Absent or false: the read is made.
   */
  cacheAnswered?: boolean;
  /**
   * The Redis lookup, still running: it resolves with the requests to decide (those of `requests`
   * Redis does not know as decided, in order) and whether Redis answered for all of them (the meaning of
   * `cacheAnswered`, which it replaces). The transaction's first round trip (the lock and the reads, for
   * every request) goes meanwhile; the flush decides only the selected requests. Absent: every request,
   * and `cacheAnswered`.
   */
  selected?: Promise<Selection>;
}

/** What the Redis lookup left for MySQL to decide. */
export interface Selection {
  requests: readonly SourcedRequest[];
  cacheAnswered: boolean;
}

export class RedemptionStore {
  /**
   * What this store's dry-run flushes decided so far, laid over MySQL in the next ones: every flush is
   * rolled back, and without it a range of many flushes would be decided against MySQL as it was before
   * the run (retries counted as new, quota used up earlier still free).
   */
  private readonly dry = new DryRunState();

  /**
   * The last read of prior decisions found some that Redis did not know: Redis is behind MySQL (a
   * redelivery after a crash, a replay past the TTL, a flushed Redis), and flushes read them first until
   * a read finds none, rather than fail on the primary key flush after flush. A new store starts so: the
   * first flushes after a start are the likeliest to be redeliveries of what a crash left uncommitted.
   */
  private redisBehind = true;

  /** The last Redis lookup did not answer for every request (Redis down or failing): read prior decisions at once. */
  private cacheFailing = false;

  constructor(private readonly knex: Knex) {}

  /**
   * Decides and writes the selected requests (`options.selected`, or all of `requests`) in one
   * transaction. Records, `reemitted` and `committed` are those of the selected requests, in order.
   */
  async flush(requests: readonly SourcedRequest[], options: FlushOptions): Promise<FlushResult> {
    const sent = { statements: 0 };
    const selected = options.selected ?? Promise.resolve({ requests, cacheAnswered: options.cacheAnswered === true });
    // Without the read of prior decisions only where Redis answered: known at once, or expected of the
    // lookup while the last one answered (a lookup that did not costs one more round trip for the read).
    const mayAnswer = options.selected !== undefined ? !this.cacheFailing : options.cacheAnswered === true;
    if (options.mode.kind === 'commit' && mayAnswer && !this.redisBehind) {
      try {
        return await this.flushOnce(requests, selected, options, false, sent);
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
        // A request of the batch is decided already: the PRIMARY KEY refused its second decision.
        this.redisBehind = true;
      }
    }
    const result = await this.flushOnce(requests, selected, options, true, sent);
    this.redisBehind = result.priorFound;
    return { records: result.records, reemitted: result.reemitted, committed: result.committed, statements: sent.statements };
  }

  /**
   * One transaction; `sent` counts the statements sent, those of a transaction refused included. Locks
   * and reads for all of `candidates`; decides the selected ones. Where Redis turns out not to have
   * answered and the prior decisions were not read, they are read (one more round trip) before deciding.
   */
  private flushOnce(
    candidates: readonly SourcedRequest[],
    selected: Promise<Selection>,
    options: FlushOptions,
    readPrior: boolean,
    sent: { statements: number },
  ): Promise<FlushResult & { priorFound: boolean }> {
    return inTransaction(this.knex, async (session) => {
      const loaded = await load(session, candidates, readPrior);
      const { requests, cacheAnswered } = await selected;
      this.cacheFailing = !cacheAnswered;
      let statements = loaded.statements;
      let prior = loaded.state.prior;
      if (!readPrior && !cacheAnswered && requests.length > 0) {
        const late = priorDecisionsRead(requests);
        const [rows] = await session.query([late.sql]);
        prior = late.rows(rows);
        statements += 1;
      }
      if (requests.length < candidates.length && prior.length > 0) {
        // Only the selected requests' decisions: those of requests Redis knew say nothing of Redis being behind.
        const keys = new Set(requests.map((r) => decisionKey(r.request.coupon_code, r.request.request_id)));
        prior = prior.filter((d) => keys.has(decisionKey(d.couponCode, d.requestId)));
      }
      const loadedState = { ...loaded.state, prior };
      const { mode } = options;
      const state = mode.kind === 'dry-run' ? this.dry.overlay(loadedState, requests) : loadedState;
      const decided = decideBatch(requests, state, options);
      const writes = writesOf(decided);
      statements += writes.length + 2;
      sent.statements += statements;
      const priorFound = prior.length > 0;
      if (mode.kind === 'dry-run') {
        // Recorded once the transaction is rolled back, so a flush that fails and is retried counts once.
        const knownBefore = new Map<string, Set<string>>();
        for (const row of state.redemptions) knownBefore.set(row.couponCode, (knownBefore.get(row.couponCode) ?? new Set()).add(row.requestId));
        return {
          commit: false,
          writes,
          result: { records: decided.records, reemitted: decided.reemitted, committed: [], statements, priorFound },
          after: () => this.dry.record(decided.committed, decided.coupons, decided.redemptions, knownBefore),
        };
      }
      return {
        // Nothing selected (Redis knew every request): nothing to keep.
        commit: writes.length > 0,
        writes,
        // The writes go with the COMMIT: a crash here leaves nothing of the flush in MySQL.
        beforeEnd: mode.beforeCommit,
        result: { records: decided.records, reemitted: decided.reemitted, committed: decided.committed, statements, priorFound },
      };
    });
  }
}

/** MySQL's error for a row whose key is taken (mysql2's code for errno 1062). */
function isDuplicateKey(error: unknown): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === 'ER_DUP_ENTRY';
}

/**
 * Locks the batch's coupons and reads what the rules need about them, in one round trip: the lock
 * comes first, so the reads after it see what the last flush of these coupons committed. Prior
 * decisions are read only when `readPrior` says so.
 */
async function load(session: SqlSession, requests: readonly SourcedRequest[], readPrior: boolean): Promise<{ state: LoadedState; statements: number }> {
  const codes = [...new Set(requests.map((r) => r.request.coupon_code))].sort();
  const redeemers = distinctPairs(requests, (r) => (r.op === 'REDEEM' ? r.user_id : null));
  const targets = distinctPairs(requests, (r) => (r.op === 'REVERSE' && r.reverses_request_id ? r.reverses_request_id : null));
  const coupons = lockCoupons(codes);
  const prior = readPrior ? priorDecisionsRead(requests) : null;
  // Statements a batch does not need are not sent: no redeemers, no user counts; no refunds, no lookup.
  const counts = redeemers.length > 0 ? countUserRedemptions(redeemers) : null;
  const refunded = targets.length > 0 ? selectRedemptions(targets) : null;
  const reads = [coupons.sql, ...(prior ? [prior.sql] : []), ...(counts ? [counts.sql] : []), ...(refunded ? [refunded.sql] : [])];
  const [couponRows, ...rest] = await session.query(reads);
  const priorRows = prior ? rest.shift() : undefined;
  const countRows = counts ? rest.shift() : undefined;
  const refundedRows = refunded ? rest.shift() : undefined;
  return {
    state: {
      coupons: coupons.rows(couponRows),
      prior: prior ? prior.rows(priorRows) : [],
      userCounts: counts ? counts.rows(countRows) : [],
      redemptions: refunded ? refunded.rows(refundedRows) : [],
    },
    statements: reads.length,
  };
}

/** The read of the decisions MySQL already holds for these requests (with the lock, or late). */
function priorDecisionsRead(requests: readonly SourcedRequest[]): ReturnType<typeof selectPriorDecisions> {
  return selectPriorDecisions(distinctPairs(requests, (r) => r.request_id));
}

/** Each request's (coupon code, `key`) once, for the requests `key` names one for (not null). */
function distinctPairs(requests: readonly SourcedRequest[], key: (r: SourcedRequest['request']) => string | null | undefined): KeyPair[] {
  const seen = new Set<string>();
  const pairs: KeyPair[] = [];
  for (const { request } of requests) {
    const k = key(request);
    if (k === null || k === undefined) continue;
    const id = decisionKey(request.coupon_code, k);
    if (seen.has(id)) continue;
    seen.add(id);
    pairs.push([request.coupon_code, k]);
  }
  return pairs;
}

/** The batch's decisions and effects, as the statements that write them. */
function writesOf(decided: BatchDecisions): string[] {
  const writes: string[] = [];
  if (decided.committed.length > 0) writes.push(insertDecisions(decided.committed));
  if (decided.redemptions.length > 0) writes.push(upsertRedemptions(decided.redemptions));
  if (decided.coupons.length > 0) writes.push(updateCouponCounts(decided.coupons));
  return writes;
}
