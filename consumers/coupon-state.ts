import type { RedemptionRequested } from '../schemas/types.js';
import type { CouponTerms, CouponView, Effect, RedemptionStatus } from './rules.js';

/** A redemption row as the flush writes it. */
export interface RedemptionRow {
  couponCode: string;
  requestId: string;
  userId: string;
  orderId: string;
  amountCents: number;
  currency: string;
  status: RedemptionStatus;
  createdAt: Date;
  reversedAt: Date | null;
  reversedByRequestId: string | null;
}

/**
 * One coupon's state during a batch: what MySQL said at the start of the flush transaction, plus the
 * effects applied so far in the batch. It answers the rules' questions and remembers which rows changed,
 * so the flush writes only the last state of each key.
 */
export class CouponState implements CouponView {
  redeemedCount: number;
  countChanged = false;
  private readonly decided = new Set<string>();
  private readonly userCounts = new Map<string, number>();
  private readonly redemptions = new Map<string, RedemptionRow>();
  private readonly changed = new Set<string>();

  constructor(
    readonly code: string,
    readonly terms: CouponTerms | null,
    redeemedCount: number,
  ) {
    this.redeemedCount = redeemedCount;
  }

  /** Loading: a request MySQL already has a decision for. */
  knowDecided(requestId: string): void {
    this.decided.add(requestId);
  }

  /** Loading: this user's REDEEMED rows for the coupon. */
  knowUserCount(userId: string, redeemed: number): void {
    this.userCounts.set(userId, redeemed);
  }

  /** Loading: an existing redemption row that a REVERSE in the batch names. */
  knowRedemption(row: RedemptionRow): void {
    this.redemptions.set(row.requestId, row);
  }

  isDecided(requestId: string): boolean {
    return this.decided.has(requestId);
  }

  redeemedByUser(userId: string): number {
    return this.userCounts.get(userId) ?? 0;
  }

  redemption(requestId: string): RedemptionRow | undefined {
    return this.redemptions.get(requestId);
  }

  markDecided(requestId: string): void {
    this.decided.add(requestId);
  }

  apply(effect: Effect): void {
    if (effect.kind === 'REDEEM') this.applyRedeem(effect.request);
    else this.applyReverse(effect.request, effect.redemptionRequestId);
    this.countChanged = true;
  }

  /** The last state of every redemption row the batch created or changed. */
  changedRedemptions(): RedemptionRow[] {
    return [...this.changed].map((requestId) => this.redemptions.get(requestId)!);
  }

  private applyRedeem(request: RedemptionRequested): void {
    this.redeemedCount += 1;
    this.userCounts.set(request.user_id, this.redeemedByUser(request.user_id) + 1);
    this.redemptions.set(request.request_id, {
      couponCode: this.code,
      requestId: request.request_id,
      userId: request.user_id,
      orderId: request.order_id,
      amountCents: request.amount_cents,
      currency: request.currency,
      status: 'REDEEMED',
      createdAt: request.occurred_at,
      reversedAt: null,
      reversedByRequestId: null,
    });
    this.changed.add(request.request_id);
  }

  private applyReverse(request: RedemptionRequested, redemptionRequestId: string): void {
    const row = this.redemptions.get(redemptionRequestId)!;
    // mutant: reverse-keeps-quota
    this.redeemedCount -= 1;
    this.userCounts.set(row.userId, this.redeemedByUser(row.userId) - 1);
    row.status = 'REVERSED';
    row.reversedAt = request.occurred_at;
    row.reversedByRequestId = request.request_id;
    this.changed.add(redemptionRequestId);
  }
}
