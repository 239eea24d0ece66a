import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { couponCodes } from '../../lib/coupon-catalog.js';
import type { CouponTermsRow } from '../../lib/coupon-csv.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import type { RedemptionRequested } from '../../schemas/types.js';
import type { ReferenceCoupon } from '../../verify/reference-ledger.js';

export const T0 = new Date('2026-11-24T00:00:00Z');

/** Coupons with every rule in play: exhaustion, per-user limits, an expired and a not-yet-valid one. */
export function mixedCoupons(simulated: number): ReferenceCoupon[] {
  const valid = { valid_from: new Date(T0.getTime() - DAY), valid_until: new Date(T0.getTime() + DAY) };
  const coupons: ReferenceCoupon[] = [
    { code: 'HOT', quota: 3, per_user_limit: 1, ...valid },
    { code: 'LIMIT', quota: 100, per_user_limit: 2, ...valid },
    { code: 'ORDER', quota: 1, per_user_limit: 5, ...valid },
    { code: 'EXPIRED', quota: 100, per_user_limit: 1, valid_from: new Date(T0.getTime() - 3 * DAY), valid_until: new Date(T0.getTime() - DAY) },
    { code: 'FUTURE', quota: 100, per_user_limit: 1, valid_from: new Date(T0.getTime() + DAY), valid_until: new Date(T0.getTime() + 2 * DAY) },
  ];
  for (const code of couponCodes('SIM', simulated)) coupons.push({ code, quota: 40, per_user_limit: 2, ...valid });
  return coupons;
}

export function couponsCsv(coupons: readonly ReferenceCoupon[], campaign = 'test'): string {
  return [
    'code,campaign_id,quota,per_user_limit,valid_from,valid_until',
    ...coupons.map((c) => [c.code, campaign, c.quota, c.per_user_limit, c.valid_from.toISOString(), c.valid_until.toISOString()].join(',')),
  ].join('\n');
}

/** A REDEEM of `coupon` by `user`, `at` ms after T0, with any field replaced by `extra`. */
export function request(id: string, coupon: string, user = 'u1', at = 1, extra: Partial<RedemptionRequested> = {}): RedemptionRequested {
  return {
    request_id: id,
    coupon_code: coupon,
    user_id: user,
    order_id: `order-${id}`,
    op: 'REDEEM',
    reverses_request_id: null,
    amount_cents: 1000,
    currency: 'EUR',
    occurred_at: new Date(T0.getTime() + at),
    source: 'test',
    ...extra,
  };
}

/** Hand-made requests for each rule, then a simulated burst with retries, refunds and unknown coupons. */
export function mixedRequests(simulatedCoupons: number, simulatedCount: number, seed = 1): RedemptionRequested[] {
  const reverse = (id: string, coupon: string, target: string, at: number) => request(id, coupon, 'u', at, { op: 'REVERSE', reverses_request_id: target });
  const handMade: RedemptionRequested[] = [
    request('h1', 'HOT', 'a', 1),
    request('h2', 'HOT', 'b', 2),
    request('h3', 'HOT', 'a', 3), // USER_LIMIT
    request('h4', 'HOT', 'c', 4),
    request('h5', 'HOT', 'd', 5), // EXHAUSTED
    request('h1', 'HOT', 'a', 6), // upstream retry: DUPLICATE
    request('l1', 'LIMIT', 'x', 7),
    request('l2', 'LIMIT', 'x', 8),
    request('l3', 'LIMIT', 'x', 9), // USER_LIMIT
    reverse('l4', 'LIMIT', 'l1', 10), // refund frees the user's slot
    request('l5', 'LIMIT', 'x', 11),
    reverse('l6', 'LIMIT', 'l1', 12), // refunding twice: NOT_REDEEMED
    reverse('l7', 'LIMIT', 'never-happened', 13), // refund of an unknown redemption
    request('o1', 'ORDER', 'p', 14),
    request('o2', 'ORDER', 'q', 15), // EXHAUSTED
    reverse('o3', 'ORDER', 'o1', 16),
    request('o4', 'ORDER', 'r', 17), // fits again, only because o3 came before it
    request('e1', 'EXPIRED', 'x', 18),
    request('f1', 'FUTURE', 'x', 19),
    request('n1', 'NO-SUCH-COUPON', 'x', 20),
    reverse('n2', 'NO-SUCH-COUPON', 'n1', 21),
    request('h5', 'HOT', 'd', 22), // a rejected request repeated: DUPLICATE
  ];
  const codes = couponCodes('SIM', simulatedCoupons);
  const simulated = [
    ...simulateCheckout({
      ...DEFAULT_SIMULATION,
      count: simulatedCount,
      couponCodes: codes,
      users: 300,
      seed,
      startAt: new Date(T0.getTime() + 100),
      retryShare: 0.05,
      refundShare: 0.05,
      unknownCouponShare: 0.01,
    }),
  ];
  return [...handMade, ...simulated];
}

export function writeJsonLines(requests: readonly RedemptionRequested[], name: string): string {
  const path = join(tmpdir(), `${name}-${process.pid}-${Date.now()}.jsonl`);
  writeFileSync(path, requests.map((r) => JSON.stringify({ ...r, occurred_at: r.occurred_at.toISOString() })).join('\n') + '\n');
  return path;
}

export function writeTemp(text: string, name: string): string {
  const path = join(tmpdir(), `${name}-${process.pid}-${Date.now()}`);
  writeFileSync(path, text);
  return path;
}

const DAY = 86_400_000;

/**
 * One coupon per decision a checkout can be answered with, valid around T0: OK (applies), ONE (a quota of 1:
 * the second user is EXHAUSTED), OLD (expired) and NEW (not yet valid).
 */
export function decisionCoupons(): CouponTermsRow[] {
  const terms = { campaign_id: 'spring', per_user_limit: 1 };
  const validFor = (fromDays: number, untilDays: number) => ({
    valid_from: new Date(T0.getTime() + fromDays * DAY),
    valid_until: new Date(T0.getTime() + untilDays * DAY),
  });
  return [
    { code: 'OK', quota: 100, ...terms, ...validFor(-1, 1) },
    { code: 'ONE', quota: 1, ...terms, ...validFor(-1, 1) },
    { code: 'OLD', quota: 100, ...terms, ...validFor(-3, -1) },
    { code: 'NEW', quota: 100, ...terms, ...validFor(1, 2) },
  ];
}
