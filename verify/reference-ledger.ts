/**
 * The oracle: a plain reference implementation of the coupon rules, written from the specification and
 * sharing no code with the consumer's decision path (only the schema types): one event at a time, in
 * partition order, no batching, no Redis, all state in plain maps. `redeem verify` and the tests compare
 * what the pipeline wrote to MySQL against what this computes from the same events.
 */
import type { Decision, RedemptionRequested, RejectReason } from '../schemas/types.js';

export interface ReferenceCoupon {
  code: string;
  quota: number;
  per_user_limit: number;
  valid_from: Date;
  valid_until: Date;
}

export interface ReferenceRedemption {
  coupon_code: string;
  request_id: string;
  user_id: string;
  order_id: string;
  amount_cents: number;
  status: 'REDEEMED' | 'REVERSED';
}

export interface ReferenceDecision {
  request_id: string;
  coupon_code: string;
  decision: Decision;
  reason: RejectReason | null;
}

export class ReferenceLedger {
  readonly counts = new Map<string, number>();
  readonly redemptions = new Map<string, ReferenceRedemption>();
  readonly decisions: ReferenceDecision[] = [];
  private readonly coupons = new Map<string, ReferenceCoupon>();
  private readonly decided = new Set<string>();
  private readonly userCounts = new Map<string, number>();

  constructor(
    coupons: readonly ReferenceCoupon[],
    private readonly options: { keepDecisions: boolean } = { keepDecisions: true },
  ) {
    for (const c of coupons) {
      this.coupons.set(c.code, c);
      this.counts.set(c.code, 0);
    }
  }

  apply(e: RedemptionRequested): ReferenceDecision {
    const key = JSON.stringify([e.coupon_code, e.request_id]);
    const result = (decision: Decision, reason: RejectReason | null = null): ReferenceDecision => {
      const d = { request_id: e.request_id, coupon_code: e.coupon_code, decision, reason };
      if (this.options.keepDecisions) this.decisions.push(d);
      if (decision !== 'DUPLICATE') this.decided.add(key);
      return d;
    };
    if (this.decided.has(key)) return result('DUPLICATE');
    const coupon = this.coupons.get(e.coupon_code);
    if (e.op === 'REVERSE') {
      const target = this.redemptions.get(JSON.stringify([e.coupon_code, e.reverses_request_id]));
      if (!target || target.status !== 'REDEEMED') return result('REJECTED', 'NOT_REDEEMED');
      target.status = 'REVERSED';
      this.userCounts.set(JSON.stringify([e.coupon_code, target.user_id]), this.userCounts.get(JSON.stringify([e.coupon_code, target.user_id]))! - 1);
      this.counts.set(e.coupon_code, this.counts.get(e.coupon_code)! - 1);
      return result('APPLIED');
    }
    if (!coupon) return result('REJECTED', 'NOT_FOUND');
    const t = e.occurred_at.getTime();
    if (t < coupon.valid_from.getTime()) return result('REJECTED', 'NOT_YET_VALID');
    if (t >= coupon.valid_until.getTime()) return result('REJECTED', 'EXPIRED');
    if (this.counts.get(coupon.code)! >= coupon.quota) return result('REJECTED', 'EXHAUSTED');
    const userKey = JSON.stringify([coupon.code, e.user_id]);
    if ((this.userCounts.get(userKey) ?? 0) >= coupon.per_user_limit) return result('REJECTED', 'USER_LIMIT');
    this.redemptions.set(key, {
      coupon_code: e.coupon_code,
      request_id: e.request_id,
      user_id: e.user_id,
      order_id: e.order_id,
      amount_cents: e.amount_cents,
      status: 'REDEEMED',
    });
    this.counts.set(coupon.code, this.counts.get(coupon.code)! + 1);
    this.userCounts.set(userKey, (this.userCounts.get(userKey) ?? 0) + 1);
    return result('APPLIED');
  }
}
