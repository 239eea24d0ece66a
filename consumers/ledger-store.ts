/**
 * The MySQL side of a flush, as load → decide → write in one READ COMMITTED transaction: lock the
 * batch's coupons and read what the rules need (sql/statements.ts), decide every request in order
 * (decide-batch.ts, pure), write all effects as multi-row INSERT ... ON DUPLICATE KEY UPDATE statements.
 *
 * The coupons' row locks serialise flushes that touch the same coupon, so a member that lost its
 * partitions but is still flushing cannot interleave with the new owner; and the decisions table's
 * primary key refuses a second decision for a request even then (the flush fails and is retried, and
 * the retry sees the first decision).
 */
import type { Knex } from 'knex';
import type { RedemptionDecided } from '../schemas/types.js';
import { decideBatch, type BatchDecisions, type LoadedState } from './decide-batch.js';
import { countUserRedemptions, insertDecisions, lockCoupons, selectPriorDecisions, selectRedemptions, updateCouponCounts, upsertRedemptions } from './sql/statements.js';
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
 * How a flush ends: `commit` (after `beforeCommit`, the fault-injection point just before the commit)
 * or `dry-run`, which decides and writes everything as usual, then rolls back: the result says what
 * would change, and nothing does.
 */
export type FlushMode = { kind: 'commit'; beforeCommit?(): void } | { kind: 'dry-run' };

export interface FlushOptions {
  consumerId: string;
  /** The decision time recorded on every decision (epoch millis). */
  decidedAt: number;
  mode: FlushMode;
}

export class LedgerStore {
  constructor(private readonly knex: Knex) {}

  async flush(requests: readonly SourcedRequest[], options: FlushOptions): Promise<FlushResult> {
    const trx = await this.knex.transaction({ isolationLevel: 'read committed' });
    try {
      const { state, statements: reads } = await load(trx, requests);
      const decided = decideBatch(requests, state, options);
      const writes = await write(trx, decided);
      if (options.mode.kind === 'dry-run') {
        await trx.rollback();
        return { records: decided.records, reemitted: decided.reemitted, committed: [], statements: reads + writes + 2 };
      }
      options.mode.beforeCommit?.();
      await trx.commit();
      return { records: decided.records, reemitted: decided.reemitted, committed: decided.committed, statements: reads + writes + 2 };
    } catch (error) {
      if (!trx.isCompleted()) await trx.rollback().catch(() => {});
      throw error;
    }
  }
}

/** Locks the batch's coupons and reads what the rules need about them. */
async function load(trx: Knex.Transaction, requests: readonly SourcedRequest[]): Promise<{ state: LoadedState; statements: number }> {
  const codes = [...new Set(requests.map((r) => r.request.coupon_code))].sort();
  const requestIds = [...new Set(requests.map((r) => r.request.request_id))];
  const coupons = await lockCoupons(trx, codes);
  const prior = await selectPriorDecisions(trx, codes, requestIds);
  const existing = new Set(coupons.map((c) => c.code));
  const redeemers = [...new Set(requests.filter((r) => r.request.op === 'REDEEM' && existing.has(r.request.coupon_code)).map((r) => r.request.user_id))];
  const targets = [...new Set(requests.flatMap((r) => (r.request.op === 'REVERSE' && r.request.reverses_request_id ? [r.request.reverses_request_id] : [])))];
  // Statements a batch does not need are not sent: no redeemers, no user counts; no refunds, no lookup.
  const userCounts = redeemers.length > 0 ? await countUserRedemptions(trx, codes, redeemers) : [];
  const redemptions = targets.length > 0 ? await selectRedemptions(trx, codes, targets) : [];
  const statements = 2 + (redeemers.length > 0 ? 1 : 0) + (targets.length > 0 ? 1 : 0);
  return { state: { coupons, prior, userCounts, redemptions }, statements };
}

/** Writes the batch's decisions and effects; returns the statements sent. */
async function write(trx: Knex.Transaction, decided: BatchDecisions): Promise<number> {
  let statements = 0;
  if (decided.committed.length > 0) {
    await insertDecisions(trx, decided.committed);
    statements += 1;
  }
  if (decided.redemptions.length > 0) {
    await upsertRedemptions(trx, decided.redemptions);
    statements += 1;
  }
  if (decided.coupons.length > 0) {
    await updateCouponCounts(trx, decided.coupons);
    statements += 1;
  }
  return statements;
}
