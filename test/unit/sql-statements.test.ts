import { describe, expect, it } from 'vitest';

import type { CouponDbRow } from '../../consumers/sql/rows.js';
import { literal } from '../../consumers/sql/session.js';
import { updateCouponCounts } from '../../consumers/sql/statements.js';

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
