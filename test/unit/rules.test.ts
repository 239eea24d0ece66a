import { describe, expect, it } from 'vitest';
import { CouponLedger } from '../../consumers/coupon-ledger.js';
import { decide, remainingQuota } from '../../consumers/rules.js';
import type { RedemptionRequested } from '../../schemas/types.js';

const T0 = Date.parse('2026-11-24T00:00:00Z');
const terms = { quota: 2, perUserLimit: 1, validFrom: T0, validUntil: T0 + 1000 };

function redeem(id: string, user = 'u1', at = T0 + 10): RedemptionRequested {
  return { request_id: id, coupon_code: 'C', user_id: user, order_id: `o-${id}`, op: 'REDEEM', reverses_request_id: null, amount_cents: 100, currency: 'EUR', occurred_at: new Date(at), source: 'test' };
}

function reverse(id: string, target: string, at = T0 + 20): RedemptionRequested {
  return { ...redeem(id, 'u1', at), op: 'REVERSE', reverses_request_id: target };
}

/** Runs events through the rules the way the flush does: decide, apply, mark decided. */
function run(ledger: CouponLedger, events: RedemptionRequested[]): string[] {
  return events.map((e) => {
    const outcome = decide(ledger, e);
    if (outcome.decision === 'APPLIED') ledger.apply(outcome.effect);
    if (outcome.decision !== 'DUPLICATE') ledger.markDecided(e.request_id);
    return outcome.decision === 'REJECTED' ? `REJECTED:${outcome.reason}` : outcome.decision;
  });
}

describe('coupon rules', () => {
  it('applies a valid redemption and counts it', () => {
    const ledger = new CouponLedger('C', terms, 0);
    expect(run(ledger, [redeem('a')])).toEqual(['APPLIED']);
    expect(ledger.redeemedCount).toBe(1);
    expect(remainingQuota(ledger)).toBe(1);
    expect(ledger.changedRedemptions()).toMatchObject([{ requestId: 'a', status: 'REDEEMED', userId: 'u1' }]);
  });

  it('rejects an unknown coupon with NOT_FOUND and reports no remaining quota', () => {
    const ledger = new CouponLedger('C', null, 0);
    expect(run(ledger, [redeem('a')])).toEqual(['REJECTED:NOT_FOUND']);
    expect(remainingQuota(ledger)).toBeNull();
  });

  it('uses the event time: before valid_from is NOT_YET_VALID, at valid_until is EXPIRED', () => {
    const ledger = new CouponLedger('C', terms, 0);
    expect(run(ledger, [redeem('a', 'u1', T0 - 1), redeem('b', 'u2', T0 + 1000), redeem('c', 'u3', T0)])).toEqual([
      'REJECTED:NOT_YET_VALID',
      'REJECTED:EXPIRED',
      'APPLIED',
    ]);
  });

  it('rejects EXHAUSTED once the quota is used, and checks it before the per-user limit', () => {
    const ledger = new CouponLedger('C', terms, 0);
    expect(run(ledger, [redeem('a', 'u1'), redeem('b', 'u2'), redeem('c', 'u1')])).toEqual(['APPLIED', 'APPLIED', 'REJECTED:EXHAUSTED']);
  });

  it('rejects USER_LIMIT when this user already holds per_user_limit redemptions', () => {
    const ledger = new CouponLedger('C', { ...terms, quota: 10 }, 0);
    expect(run(ledger, [redeem('a', 'u1'), redeem('b', 'u1'), redeem('c', 'u2')])).toEqual(['APPLIED', 'REJECTED:USER_LIMIT', 'APPLIED']);
  });

  it('counts what MySQL already holds for the user', () => {
    const ledger = new CouponLedger('C', { ...terms, quota: 10 }, 3);
    ledger.knowUserCount('u1', 1);
    expect(run(ledger, [redeem('a', 'u1')])).toEqual(['REJECTED:USER_LIMIT']);
  });

  it('a repeated request is a DUPLICATE with no effect, whatever it was decided', () => {
    const ledger = new CouponLedger('C', terms, 0);
    expect(run(ledger, [redeem('a'), redeem('a'), redeem('x', 'u1', T0 - 5), redeem('x', 'u1', T0 + 5)])).toEqual([
      'APPLIED',
      'DUPLICATE',
      'REJECTED:NOT_YET_VALID',
      'DUPLICATE',
    ]);
    expect(ledger.redeemedCount).toBe(1);
  });

  it('a REVERSE refunds a redemption once: the row becomes REVERSED and the count drops', () => {
    const ledger = new CouponLedger('C', terms, 0);
    expect(run(ledger, [redeem('a'), reverse('r1', 'a'), reverse('r2', 'a')])).toEqual(['APPLIED', 'APPLIED', 'REJECTED:NOT_REDEEMED']);
    expect(ledger.redeemedCount).toBe(0);
    expect(ledger.changedRedemptions()).toMatchObject([{ requestId: 'a', status: 'REVERSED', reversedByRequestId: 'r1' }]);
  });

  it('a REVERSE of a redemption that never applied is NOT_REDEEMED', () => {
    const ledger = new CouponLedger('C', terms, 0);
    expect(run(ledger, [reverse('r1', 'nope')])).toEqual(['REJECTED:NOT_REDEEMED']);
  });

  it('a refund frees quota and the user limit for later redemptions, in event order', () => {
    const ledger = new CouponLedger('C', { ...terms, quota: 1 }, 0);
    expect(run(ledger, [redeem('a', 'u1'), redeem('b', 'u2'), reverse('r', 'a'), redeem('c', 'u1')])).toEqual([
      'APPLIED',
      'REJECTED:EXHAUSTED',
      'APPLIED',
      'APPLIED',
    ]);
  });

  it('reverses a redemption loaded from MySQL', () => {
    const ledger = new CouponLedger('C', terms, 1);
    ledger.knowUserCount('u9', 1);
    ledger.knowRedemption({ couponCode: 'C', requestId: 'old', userId: 'u9', orderId: 'o', amountCents: 5, currency: 'EUR', status: 'REDEEMED', createdAt: new Date(T0), reversedAt: null, reversedByRequestId: null });
    expect(run(ledger, [reverse('r', 'old')])).toEqual(['APPLIED']);
    expect(ledger.redeemedByUser('u9')).toBe(0);
    expect(ledger.changedRedemptions()).toMatchObject([{ requestId: 'old', status: 'REVERSED', orderId: 'o' }]);
  });
});
