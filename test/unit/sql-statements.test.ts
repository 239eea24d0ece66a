import { describe, expect, it } from 'vitest';

import type { RedemptionRow } from '../../consumers/coupon-state.js';
import type { CouponDbRow } from '../../consumers/sql/rows.js';
import { list, literal, pairList } from '../../consumers/sql/session.js';
import { insertDecisions, updateCouponCounts, upsertRedemptions } from '../../consumers/sql/statements.js';
import type { StoredDecision } from '../../consumers/types.js';

const coupon = (code: string, validFrom: string, validUntil: string, updatedAt: string): CouponDbRow => ({
  code,
  campaign_id: 'spring',
  quota: 100,
  redeemed_count: 7,
  per_user_limit: 1,
  valid_from: new Date(validFrom),
  valid_until: new Date(validUntil),
  updated_at: new Date(updatedAt),
});

/** The statement with every value written by `literal`, one by one: what the shared dates must not change. */
function valueByValue(coupons: readonly CouponDbRow[]): string {
  const rows = coupons.map(
    (c) =>
      `(${[c.code, c.campaign_id, c.quota, c.redeemed_count, c.per_user_limit, c.valid_from, c.valid_until, c.updated_at].map((v) => literal(v)).join(',')})`,
  );
  return `INSERT INTO coupons (code, campaign_id, quota, redeemed_count, per_user_limit, valid_from, valid_until, updated_at) VALUES ${rows.join(',')} ON DUPLICATE KEY UPDATE redeemed_count = VALUES(redeemed_count), updated_at = VALUES(updated_at)`;
}

describe('updateCouponCounts', () => {
  it('writes each coupon its own dates, whether coupons share them or not', () => {
    const coupons = [
      coupon('A', '2026-01-01T00:00:00.000Z', '2026-12-31T23:59:59.999Z', '2026-12-07T05:00:00.123Z'),
      coupon('B', '2026-01-01T00:00:00.000Z', '2026-12-31T23:59:59.999Z', '2026-12-07T05:00:00.123Z'),
      // Its valid_until is A's updated_at: a date is written by its value, not by its column.
      coupon('C', '2025-06-01T12:30:00.500Z', '2026-12-07T05:00:00.123Z', '2026-12-07T05:00:01.000Z'),
    ];
    const sql = updateCouponCounts(coupons);
    expect(sql).toBe(valueByValue(coupons));
    expect(sql).toContain("('C','spring',100,7,1,'2025-06-01 12:30:00.500','2026-12-07 05:00:00.123','2026-12-07 05:00:01.000')");
  });

  it('refuses an invalid date as literal does', () => {
    const bad = coupon('A', '2026-01-01T00:00:00.000Z', '2026-12-31T23:59:59.999Z', 'not a date');
    expect(() => updateCouponCounts([bad])).toThrow('not a valid date');
  });
});

const rowsOf = (rows: readonly (readonly (string | number | Date | null)[])[]) => rows.map((r) => `(${r.map((v) => literal(v)).join(',')})`).join(',');

describe('insertDecisions and upsertRedemptions', () => {
  const decision = (requestId: string, reason: StoredDecision['reason'], consumerId: string): StoredDecision => ({
    couponCode: "C'1",
    requestId,
    op: 'REDEEM',
    decision: reason === null ? 'APPLIED' : 'REJECTED',
    reason,
    remainingQuota: reason === null ? 4 : null,
    sourceTopic: 'redemption.requested',
    sourcePartition: 2,
    sourceOffset: 2 ** 40,
    decidedAt: Date.parse('2026-12-07T09:50:00.125Z'),
    consumerId,
  });

  it('write every decision value by value, shared values and all', () => {
    const decisions = [decision('r1', null, 'c-1'), decision('r\\2\n', 'EXPIRED', 'c-1'), decision('r3', null, 'c-2')];
    const values = decisions.map((d) => [
      d.couponCode,
      d.requestId,
      d.op,
      d.decision,
      d.reason,
      d.remainingQuota,
      d.sourceTopic,
      d.sourcePartition,
      d.sourceOffset,
      new Date(d.decidedAt),
      d.consumerId,
    ]);
    expect(insertDecisions(decisions)).toBe(
      `INSERT INTO decisions (coupon_code, request_id, op, decision, reason, remaining_quota, source_topic, source_partition, source_offset, decided_at, consumer_id) VALUES ${rowsOf(values)}`,
    );
  });

  it('write every redemption value by value, with its ON DUPLICATE KEY UPDATE', () => {
    const row = (requestId: string, reversed: boolean): RedemptionRow => ({
      couponCode: 'C1',
      requestId,
      userId: 'u"1',
      orderId: 'o-1',
      amountCents: 1999,
      currency: 'EUR',
      status: reversed ? 'REVERSED' : 'REDEEMED',
      createdAt: new Date('2026-12-07T09:00:00.000Z'),
      reversedAt: reversed ? new Date('2026-12-07T09:30:00.000Z') : null,
      reversedByRequestId: reversed ? 'refund-1' : null,
    });
    const rows = [row('r1', false), row('r2', true)];
    const values = rows.map((r) => [
      r.couponCode,
      r.requestId,
      r.userId,
      r.orderId,
      r.amountCents,
      r.currency,
      r.status,
      r.createdAt,
      r.reversedAt,
      r.reversedByRequestId,
    ]);
    expect(upsertRedemptions(rows)).toBe(
      `INSERT INTO redemptions (coupon_code, request_id, user_id, order_id, amount_cents, currency, status, created_at, reversed_at, reversed_by_request_id) VALUES ${rowsOf(values)} ON DUPLICATE KEY UPDATE status = VALUES(status), reversed_at = VALUES(reversed_at), reversed_by_request_id = VALUES(reversed_by_request_id)`,
    );
  });

  it('write IN lists of values and of pairs', () => {
    expect(list(['a', "b'", 3])).toBe("('a', 'b\\'', 3)");
    expect(
      pairList([
        ['C1', 'r1'],
        ['C2', 'r"2'],
      ]),
    ).toBe(`(('C1', 'r1'), ('C2', 'r\\"2'))`);
    expect(list([])).toBe('()');
  });
});
