/**
 * The flush's statements, one function each, named after what it does. Each takes the whole batch at
 * once: the statement count of a flush depends on its shape, never on its size. Their text is fixed but
 * for the rows and lists, so it is written here directly (every value through `literal`, which escapes
 * as mysql2 does) instead of being compiled by a query builder per flush, and a multi-row statement is
 * its pieces joined once (a template literal per row made an intermediate string of each piece: about
 * 12% of what a drain allocated). They are built, not run: the session sends the reads of a flush
 * together, and its writes with its COMMIT (sql/session.ts).
 */
import type { RedemptionRow } from '../coupon-state.js';
import type { StoredDecision } from '../types.js';
import { type CouponDbRow, type DecisionDbRow, decisionRows, type RedemptionDbRow, redemptionRows } from './rows.js';
import { dateLiteral, list, literal, pairList } from './session.js';

/** A read of the flush: its text, and how its result becomes the pipeline's rows. */
export interface Read<T> {
  sql: string;
  rows(result: unknown): T;
}

/**
 * Locks the coupons' rows in code order (so concurrent flushes never deadlock on each other) and reads
 * their terms and counts. Flushes touching the same coupon serialise here.
 */
export function lockCoupons(codes: readonly string[]): Read<CouponDbRow[]> {
  return { sql: `SELECT * FROM coupons WHERE code IN ${list([...codes].sort())} ORDER BY code FOR UPDATE`, rows: (result) => result as CouponDbRow[] };
}

/** A (coupon code, second key) pair, as the lookups below take them. */
export type KeyPair = readonly [couponCode: string, key: string];

/**
 * The lookups ask for exact (coupon, key) pairs with a row IN, which MariaDB and MySQL read as one range
 * of the index per pair. Two separate IN lists instead made MariaDB consider every combination of them
 * (800 x 800 for a flush of 800) and scan whole coupons: 11-16 ms for 100 pairs in 200,000 decisions,
 * against 1 ms. MariaDB (from 10.3.18) also rewrites an IN of over 1,000 values (500 pairs) into a join
 * with a derived table, which for a row IN meant a scan of the whole table (30 s for 800 pairs): that
 * rewrite is switched off for the statement. MySQL reads the prefix as a comment.
 */
const BY_PAIRS = '/*M!100318 SET STATEMENT in_predicate_conversion_threshold = 0 FOR */ ';

/**
 * BY_PAIRS for a lookup in a non-unique index: MariaDB estimated the rows of each pair's range with a
 * dive into the index before reading it (below `eq_range_index_dive_limit`, 200 pairs), and the count
 * of a flush's user redemptions cost MariaDB 10-22 us of CPU a request against 5-6 without the dives
 * (140-pair flushes, one connection, 2026-12-07). Without them it estimates from the index's
 * statistics, which can be far off, so the index is named: the plan is the one range read of it.
 */
const BY_PAIRS_WITHOUT_DIVES = '/*M!100318 SET STATEMENT in_predicate_conversion_threshold = 0, eq_range_index_dive_limit = 1 FOR */ ';

/** The decisions already stored for these (coupon, request id) pairs. */
export function selectPriorDecisions(keys: readonly KeyPair[]): Read<StoredDecision[]> {
  return {
    sql: `${BY_PAIRS}SELECT * FROM decisions WHERE (coupon_code, request_id) IN ${pairList(keys)}`,
    rows: (result) => (result as DecisionDbRow[]).map(decisionRows.fromDb),
  };
}

/** How many REDEEMED redemptions each of these (coupon, user id) pairs holds. */
export function countUserRedemptions(keys: readonly KeyPair[]): Read<{ couponCode: string; userId: string; redeemed: number }[]> {
  return {
    sql: `${BY_PAIRS_WITHOUT_DIVES}SELECT coupon_code, user_id, COUNT(*) AS n FROM redemptions FORCE INDEX (redemptions_user_status) WHERE (coupon_code, user_id) IN ${pairList(keys)} AND status = 'REDEEMED' GROUP BY coupon_code, user_id`,
    rows: (result) =>
      (result as { coupon_code: string; user_id: string; n: number | string }[]).map((r) => ({
        couponCode: r.coupon_code,
        userId: r.user_id,
        redeemed: Number(r.n),
      })),
  };
}

/** The redemptions of these (coupon, request id) pairs: the ones REVERSE requests of the batch name. */
export function selectRedemptions(keys: readonly KeyPair[]): Read<RedemptionRow[]> {
  return {
    sql: `${BY_PAIRS}SELECT * FROM redemptions WHERE (coupon_code, request_id) IN ${pairList(keys)}`,
    rows: (result) => (result as RedemptionDbRow[]).map(redemptionRows.fromDb),
  };
}

const DECISION_COLUMNS = `(coupon_code, request_id, op, decision, reason, remaining_quota, source_topic, source_partition, source_offset, decided_at, consumer_id)`;

/** The batch's new decisions; the primary key refuses a second decision for a request. */
export function insertDecisions(decisions: readonly StoredDecision[]): string {
  // A flush's decisions share their time, consumer and usually their topic: each written once.
  const shared = new Map<string | number, string>();
  const once = (v: string | number) => {
    let text = shared.get(v);
    if (text === undefined) shared.set(v, (text = literal(v)));
    return text;
  };
  const date = dateLiterals();
  const sql = [`INSERT INTO decisions ${DECISION_COLUMNS} VALUES `];
  decisions.forEach((d, i) => {
    sql.push(i > 0 ? ',(' : '(', literal(d.couponCode), ',', literal(d.requestId), ',', once(d.op), ',', once(d.decision), ',');
    sql.push(d.reason === null ? 'NULL' : once(d.reason), ',', literal(d.remainingQuota), ',', once(d.sourceTopic), ',', literal(d.sourcePartition), ',');
    sql.push(literal(d.sourceOffset), ',', date(d.decidedAt), ',', once(d.consumerId), ')');
  });
  return sql.join('');
}

/**
 * Date literals of one statement, each time written once: a flush's rows mostly share their times (the
 * flush's own), and a literal is an ISO string cut in three.
 */
function dateLiterals(): (value: Date | number | null) => string {
  const known = new Map<number, string>();
  return (value) => {
    if (value === null) return 'NULL';
    const ms = typeof value === 'number' ? value : value.getTime();
    let text = known.get(ms);
    if (text === undefined) known.set(ms, (text = dateLiteral(new Date(ms))));
    return text;
  };
}

/** The last state of each redemption the batch created or changed. */
export function upsertRedemptions(rows: readonly RedemptionRow[]): string {
  const sql = [
    'INSERT INTO redemptions (coupon_code, request_id, user_id, order_id, amount_cents, currency, status, created_at, reversed_at, reversed_by_request_id) VALUES ',
  ];
  const date = dateLiterals();
  rows.forEach((r, i) => {
    sql.push(i > 0 ? ',(' : '(', literal(r.couponCode), ',', literal(r.requestId), ',', literal(r.userId), ',', literal(r.orderId), ',');
    sql.push(literal(r.amountCents), ',', literal(r.currency), ',', literal(r.status), ',', date(r.createdAt), ',', date(r.reversedAt), ',');
    sql.push(literal(r.reversedByRequestId), ')');
  });
  sql.push(' ON DUPLICATE KEY UPDATE status = VALUES(status), reversed_at = VALUES(reversed_at), reversed_by_request_id = VALUES(reversed_by_request_id)');
  return sql.join('');
}

/**
 * The coupons' new redeemed counts (their other columns as locked). Their dates are mostly shared (a
 * campaign's validity window, the flush's time), so each is written once per statement.
 */
export function updateCouponCounts(coupons: readonly CouponDbRow[]): string {
  const sql = ['INSERT INTO coupons (code, campaign_id, quota, redeemed_count, per_user_limit, valid_from, valid_until, updated_at) VALUES '];
  const date = dateLiterals();
  coupons.forEach((c, i) => {
    sql.push(i > 0 ? ',(' : '(', literal(c.code), ',', literal(c.campaign_id), ',', literal(c.quota), ',', literal(c.redeemed_count), ',');
    sql.push(literal(c.per_user_limit), ',', date(c.valid_from), ',', date(c.valid_until), ',', date(c.updated_at), ')');
  });
  sql.push(' ON DUPLICATE KEY UPDATE redeemed_count = VALUES(redeemed_count), updated_at = VALUES(updated_at)');
  return sql.join('');
}
