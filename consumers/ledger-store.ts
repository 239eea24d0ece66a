import type { Knex } from 'knex';
import type { RedemptionDecided, RejectReason } from '../schemas/types.js';
import { CouponLedger, type RedemptionRow } from './coupon-ledger.js';
import { DryRunState } from './dry-run-state.js';
import { decide, remainingQuota } from './rules.js';
import { auditRecordOf, decisionKey, duplicateRecordOf, isSameMessage, type SourcedRequest, type StoredDecision } from './types.js';

export interface FlushResult {
  /** One audit record per input request, in input order. */
  records: RedemptionDecided[];
  /** Per record: true when it repeats a decision already stored for the same message (a redelivery). */
  reemitted: boolean[];
  /** Decisions this flush made and committed: the ones to cache in Redis. */
  committed: StoredDecision[];
  statements: number;
}

interface CouponRow {
  code: string;
  campaign_id: string;
  quota: number;
  redeemed_count: number;
  per_user_limit: number;
  valid_from: Date;
  valid_until: Date;
  updated_at: Date;
}

interface DecisionRow {
  coupon_code: string;
  request_id: string;
  op: 'REDEEM' | 'REVERSE';
  decision: 'APPLIED' | 'REJECTED';
  reason: string | null;
  remaining_quota: number | string | null;
  source_topic: string;
  source_partition: number;
  source_offset: number | string;
  decided_at: Date;
  consumer_id: string;
}

interface RedemptionDbRow {
  coupon_code: string;
  request_id: string;
  user_id: string;
  order_id: string;
  amount_cents: number | string;
  currency: string;
  status: 'REDEEMED' | 'REVERSED';
  created_at: Date;
  reversed_at: Date | null;
  reversed_by_request_id: string | null;
}

/** Thrown inside a dry-run transaction so that knex rolls it back. */
const DRY_RUN_ROLLBACK = new Error('dry run: rolled back');

/**
 * The MySQL side of a flush: in one READ COMMITTED transaction it locks the batch's coupons, reads what
 * the rules need (prior decisions, per-user counts, redemptions being reversed), decides every request
 * in order, and writes all effects as multi-row INSERT ... ON DUPLICATE KEY UPDATE statements. The
 * statement count depends on the batch's shape, never on its size.
 *
 * The coupons' row locks serialise flushes that touch the same coupon, so a member that lost its
 * partitions but is still flushing cannot interleave with the new owner; and the decisions table's
 * primary key refuses a second decision for a request even then (the flush fails and is retried, and
 * the retry sees the first decision).
 */
export class LedgerStore {
  /** What this store's dry-run flushes decided so far, laid over MySQL in the next ones. */
  private readonly dry = new DryRunState();

  constructor(private readonly knex: Knex) {}

  /**
   * Decides and writes a chunk. With `dryRun` everything is decided and written inside the transaction
   * as usual, then rolled back: the result says what would change, and nothing does. A dry run's
   * decisions and effects are kept in memory (DryRunState) and count in its next flushes, as they would
   * in the real run.
   */
  async flush(requests: readonly SourcedRequest[], consumerId: string, decidedAt: number, beforeCommit: () => void = () => {}, dryRun = false): Promise<FlushResult> {
    let rolledBack: FlushResult | undefined;
    let dryLedgers: CouponLedger[] = [];
    const knownBefore = new Map<string, Set<string>>();
    const result = await this.knex.transaction(
      async (trx) => {
        let statements = 0;
        const run = <T>(query: Knex.QueryBuilder | Knex.Raw): Promise<T> => {
          statements += 1;
          return query as unknown as Promise<T>;
        };
        const codes = [...new Set(requests.map((r) => r.request.coupon_code))].sort();
        const requestIds = [...new Set(requests.map((r) => r.request.request_id))];

        const coupons = await run<CouponRow[]>(trx('coupons').whereIn('code', codes).orderBy('code').forUpdate());
        const couponRows = new Map(coupons.map((c) => [c.code, c]));
        const ledgers = new Map<string, CouponLedger>();
        for (const code of codes) {
          const row = couponRows.get(code);
          const terms = row
            ? { quota: row.quota, perUserLimit: row.per_user_limit, validFrom: row.valid_from.getTime(), validUntil: row.valid_until.getTime() }
            : null;
          const redeemed = (dryRun ? this.dry.redeemedCount(code) : undefined) ?? row?.redeemed_count ?? 0;
          ledgers.set(code, new CouponLedger(code, terms, redeemed));
        }

        const prior = new Map<string, StoredDecision>();
        const priorRows = await run<DecisionRow[]>(trx('decisions').whereIn('coupon_code', codes).whereIn('request_id', requestIds));
        for (const row of priorRows) {
          const stored = storedDecisionOf(row);
          prior.set(decisionKey(stored.couponCode, stored.requestId), stored);
          ledgers.get(stored.couponCode)?.knowDecided(stored.requestId);
        }
        if (dryRun) {
          for (const { request } of requests) {
            const stored = this.dry.decisionFor(request.coupon_code, request.request_id);
            if (!stored) continue;
            prior.set(decisionKey(stored.couponCode, stored.requestId), stored);
            ledgers.get(stored.couponCode)?.knowDecided(stored.requestId);
          }
        }

        const redeemers = [...new Set(requests.filter((r) => r.request.op === 'REDEEM' && couponRows.has(r.request.coupon_code)).map((r) => r.request.user_id))];
        if (redeemers.length > 0) {
          const counts = await run<{ coupon_code: string; user_id: string; n: number | string }[]>(
            trx('redemptions')
              .select('coupon_code', 'user_id')
              .count({ n: '*' })
              .whereIn('coupon_code', codes)
              .whereIn('user_id', redeemers)
              .where('status', 'REDEEMED')
              .groupBy('coupon_code', 'user_id'),
          );
          for (const c of counts) ledgers.get(c.coupon_code)?.knowUserCount(c.user_id, Number(c.n));
          if (dryRun) {
            const inMysql = new Map(counts.map((c) => [`${c.coupon_code}\u0000${c.user_id}`, Number(c.n)]));
            for (const { request } of requests) {
              if (request.op !== 'REDEEM' || !couponRows.has(request.coupon_code)) continue;
              const n = inMysql.get(`${request.coupon_code}\u0000${request.user_id}`) ?? 0;
              ledgers.get(request.coupon_code)!.knowUserCount(request.user_id, this.dry.userCount(request.coupon_code, request.user_id, n));
            }
          }
        }

        const targets = [...new Set(requests.flatMap((r) => (r.request.op === 'REVERSE' && r.request.reverses_request_id ? [r.request.reverses_request_id] : [])))];
        if (targets.length > 0) {
          const rows = await run<RedemptionDbRow[]>(trx('redemptions').whereIn('coupon_code', codes).whereIn('request_id', targets));
          for (const row of rows) {
            ledgers.get(row.coupon_code)?.knowRedemption(redemptionRowOf(row));
            if (!knownBefore.has(row.coupon_code)) knownBefore.set(row.coupon_code, new Set());
            knownBefore.get(row.coupon_code)!.add(row.request_id);
          }
          if (dryRun) {
            for (const { request } of requests) {
              if (request.op !== 'REVERSE' || !request.reverses_request_id) continue;
              const row = this.dry.redemption(request.coupon_code, request.reverses_request_id);
              if (!row) continue;
              ledgers.get(request.coupon_code)?.knowRedemption(row);
              if (!knownBefore.has(row.couponCode)) knownBefore.set(row.couponCode, new Set());
              knownBefore.get(row.couponCode)!.add(row.requestId);
            }
          }
        }

        const records: RedemptionDecided[] = [];
        const reemitted: boolean[] = [];
        const committed: StoredDecision[] = [];
        for (const source of requests) {
          const { request } = source;
          const ledger = ledgers.get(request.coupon_code)!;
          const earlier = prior.get(decisionKey(request.coupon_code, request.request_id));
          if (earlier && isSameMessage(earlier, source)) {
            records.push(auditRecordOf(earlier));
            reemitted.push(true);
            continue;
          }
          const outcome = decide(ledger, request);
          reemitted.push(false);
          if (outcome.decision === 'DUPLICATE') {
            records.push(duplicateRecordOf(source, decidedAt, consumerId));
            continue;
          }
          if (outcome.decision === 'APPLIED') ledger.apply(outcome.effect);
          ledger.markDecided(request.request_id);
          const stored: StoredDecision = {
            couponCode: request.coupon_code,
            requestId: request.request_id,
            op: request.op,
            decision: outcome.decision,
            reason: outcome.decision === 'REJECTED' ? outcome.reason : null,
            remainingQuota: remainingQuota(ledger),
            sourceTopic: source.topic,
            sourcePartition: source.partition,
            sourceOffset: source.offset,
            decidedAt,
            consumerId,
          };
          committed.push(stored);
          records.push(auditRecordOf(stored));
        }

        if (committed.length > 0) await run(trx('decisions').insert(committed.map(decisionRowOf)));
        const redemptionRows = [...ledgers.values()].flatMap((l) => l.changedRedemptions()).map(redemptionDbRowOf);
        if (redemptionRows.length > 0) {
          await run(trx('redemptions').insert(redemptionRows).onConflict(['coupon_code', 'request_id']).merge(['status', 'reversed_at', 'reversed_by_request_id']));
        }
        const couponUpdates = [...ledgers.values()]
          .filter((l) => l.countChanged)
          .map((l) => ({ ...couponRows.get(l.code)!, redeemed_count: l.redeemedCount, updated_at: new Date(decidedAt) }));
        if (couponUpdates.length > 0) {
          await run(trx('coupons').insert(couponUpdates).onConflict('code').merge(['redeemed_count', 'updated_at']));
        }
        const flushed = { records, reemitted, committed, statements: statements + 2 };
        if (dryRun) {
          rolledBack = flushed;
          dryLedgers = [...ledgers.values()];
          throw DRY_RUN_ROLLBACK;
        }
        beforeCommit();
        return flushed;
      },
      { isolationLevel: 'read committed' },
    ).catch((error: unknown) => {
      if (error === DRY_RUN_ROLLBACK && rolledBack) {
        // Recorded only once the transaction is over, so a flush that fails and is retried counts once.
        this.dry.record(rolledBack.committed, dryLedgers, knownBefore);
        return rolledBack;
      }
      throw error;
    });
    return result;
  }
}

function storedDecisionOf(row: DecisionRow): StoredDecision {
  return {
    couponCode: row.coupon_code,
    requestId: row.request_id,
    op: row.op,
    decision: row.decision,
    reason: row.reason as RejectReason | null,
    remainingQuota: row.remaining_quota === null ? null : Number(row.remaining_quota),
    sourceTopic: row.source_topic,
    sourcePartition: row.source_partition,
    sourceOffset: Number(row.source_offset),
    decidedAt: row.decided_at.getTime(),
    consumerId: row.consumer_id,
  };
}

function decisionRowOf(d: StoredDecision): DecisionRow {
  return {
    coupon_code: d.couponCode,
    request_id: d.requestId,
    op: d.op,
    decision: d.decision,
    reason: d.reason,
    remaining_quota: d.remainingQuota,
    source_topic: d.sourceTopic,
    source_partition: d.sourcePartition,
    source_offset: d.sourceOffset,
    decided_at: new Date(d.decidedAt),
    consumer_id: d.consumerId,
  };
}

function redemptionRowOf(row: RedemptionDbRow): RedemptionRow {
  return {
    couponCode: row.coupon_code,
    requestId: row.request_id,
    userId: row.user_id,
    orderId: row.order_id,
    amountCents: Number(row.amount_cents),
    currency: row.currency,
    status: row.status,
    createdAt: row.created_at,
    reversedAt: row.reversed_at,
    reversedByRequestId: row.reversed_by_request_id,
  };
}

function redemptionDbRowOf(row: RedemptionRow): RedemptionDbRow {
  return {
    coupon_code: row.couponCode,
    request_id: row.requestId,
    user_id: row.userId,
    order_id: row.orderId,
    amount_cents: row.amountCents,
    currency: row.currency,
    status: row.status,
    created_at: row.createdAt,
    reversed_at: row.reversedAt,
    reversed_by_request_id: row.reversedByRequestId,
  };
}
