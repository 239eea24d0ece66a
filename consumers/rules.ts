/**
 * The coupon rules: one deterministic state machine per coupon, as a pure function of what is known
 * about the coupon and the event. No clock, no I/O: the event's occurred_at is the only time, so a
 * replay decides exactly as the first run did.
 */
import type { RedemptionRequested, RejectReason } from '../schemas/types.js';

export interface CouponTerms {
  quota: number;
  perUserLimit: number;
  /** epoch millis, inclusive */
  validFrom: number;
  /** epoch millis, exclusive */
  validUntil: number;
}

export type RedemptionStatus = 'REDEEMED' | 'REVERSED';

/** What the rules may ask about a coupon's state just before the event. */
export interface CouponView {
  /** null when the coupon does not exist */
  readonly terms: CouponTerms | null;
  readonly redeemedCount: number;
  isDecided(requestId: string): boolean;
  redeemedByUser(userId: string): number;
  redemption(requestId: string): { readonly status: RedemptionStatus; readonly userId: string } | undefined;
}

export type Effect = { kind: 'REDEEM'; request: RedemptionRequested } | { kind: 'REVERSE'; request: RedemptionRequested; redemptionRequestId: string };

export type Outcome = { decision: 'DUPLICATE' } | { decision: 'REJECTED'; reason: RejectReason } | { decision: 'APPLIED'; effect: Effect };

export function decide(coupon: CouponView, request: RedemptionRequested): Outcome {
  if (coupon.isDecided(request.request_id)) return { decision: 'DUPLICATE' };
  return request.op === 'REDEEM' ? decideRedeem(coupon, request) : decideReverse(coupon, request);
}

function decideRedeem(coupon: CouponView, request: RedemptionRequested): Outcome {
  const terms = coupon.terms;
  const at = request.occurred_at.getTime();
  if (!terms) return { decision: 'REJECTED', reason: 'NOT_FOUND' };
  if (at < terms.validFrom) return { decision: 'REJECTED', reason: 'NOT_YET_VALID' };
  if (at >= terms.validUntil) return { decision: 'REJECTED', reason: 'EXPIRED' };
  // mutant: quota-off-by-one
  if (coupon.redeemedCount >= terms.quota) return { decision: 'REJECTED', reason: 'EXHAUSTED' };
  if (coupon.redeemedByUser(request.user_id) >= terms.perUserLimit) return { decision: 'REJECTED', reason: 'USER_LIMIT' };
  return { decision: 'APPLIED', effect: { kind: 'REDEEM', request } };
}

function decideReverse(coupon: CouponView, request: RedemptionRequested): Outcome {
  const target = request.reverses_request_id;
  const redemption = target === null ? undefined : coupon.redemption(target);
  if (target === null || !redemption || redemption.status !== 'REDEEMED') return { decision: 'REJECTED', reason: 'NOT_REDEEMED' };
  return { decision: 'APPLIED', effect: { kind: 'REVERSE', request, redemptionRequestId: target } };
}

/** quota - redeemed_count, the figure the audit record carries; null for an unknown coupon. */
export function remainingQuota(coupon: CouponView): number | null {
  return coupon.terms ? coupon.terms.quota - coupon.redeemedCount : null;
}
