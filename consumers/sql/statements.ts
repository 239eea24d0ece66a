/**
 * The flush's statements, one function each, named after what it does and handed the transaction it
 * runs on. Each takes the whole batch at once: the statement count of a flush depends on its shape,
 * never on its size.
 */
import type { Knex } from 'knex';
import type { RedemptionRow } from '../coupon-ledger.js';
import type { StoredDecision } from '../types.js';
import { decisionRows, redemptionRows, type CouponDbRow, type DecisionDbRow, type RedemptionDbRow } from './rows.js';

/**
 * Locks the coupons' rows in code order (so concurrent flushes never deadlock on each other) and reads
 * their terms and counts. Flushes touching the same coupon serialise here.
 */
export async function lockCoupons(trx: Knex.Transaction, codes: readonly string[]): Promise<CouponDbRow[]> {
  return trx('coupons').whereIn('code', [...codes].sort()).orderBy('code').forUpdate();
}

/** The decisions already stored for any of these (coupon, request) pairs. */
export async function selectPriorDecisions(trx: Knex.Transaction, codes: readonly string[], requestIds: readonly string[]): Promise<StoredDecision[]> {
  const rows = (await trx('decisions').whereIn('coupon_code', codes).whereIn('request_id', requestIds)) as DecisionDbRow[];
  return rows.map(decisionRows.fromDb);
}

/** How many REDEEMED redemptions each of these users holds on each of these coupons. */
export async function countUserRedemptions(trx: Knex.Transaction, codes: readonly string[], userIds: readonly string[]): Promise<{ couponCode: string; userId: string; redeemed: number }[]> {
  const rows = (await trx('redemptions')
    .select('coupon_code', 'user_id')
    .count({ n: '*' })
    .whereIn('coupon_code', codes)
    .whereIn('user_id', userIds)
    .where('status', 'REDEEMED')
    .groupBy('coupon_code', 'user_id')) as { coupon_code: string; user_id: string; n: number | string }[];
  return rows.map((r) => ({ couponCode: r.coupon_code, userId: r.user_id, redeemed: Number(r.n) }));
}

/** The redemptions that REVERSE requests of the batch name. */
export async function selectRedemptions(trx: Knex.Transaction, codes: readonly string[], requestIds: readonly string[]): Promise<RedemptionRow[]> {
  const rows = (await trx('redemptions').whereIn('coupon_code', codes).whereIn('request_id', requestIds)) as RedemptionDbRow[];
  return rows.map(redemptionRows.fromDb);
}

/** The batch's new decisions; the primary key refuses a second decision for a request. */
export async function insertDecisions(trx: Knex.Transaction, decisions: readonly StoredDecision[]): Promise<void> {
  await trx('decisions').insert(decisions.map(decisionRows.toDb));
}

/** The last state of each redemption the batch created or changed. */
export async function upsertRedemptions(trx: Knex.Transaction, rows: readonly RedemptionRow[]): Promise<void> {
  await trx('redemptions').insert(rows.map(redemptionRows.toDb)).onConflict(['coupon_code', 'request_id']).merge(['status', 'reversed_at', 'reversed_by_request_id']);
}

/** The coupons' new redeemed counts (their other columns as locked). */
export async function updateCouponCounts(trx: Knex.Transaction, coupons: readonly CouponDbRow[]): Promise<void> {
  await trx('coupons').insert(coupons).onConflict('code').merge(['redeemed_count', 'updated_at']);
}
