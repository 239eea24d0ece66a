/**
 * The flush's tables as MySQL returns and takes their rows, and the one mapping between those rows and
 * the pipeline's own shapes (camelCase, numbers and Dates where MySQL may hand back strings).
 */
import type { RejectReason } from '../../schemas/types.js';
import type { RedemptionRow } from '../coupon-state.js';
import type { CouponTerms } from '../rules.js';
import type { StoredDecision } from '../types.js';

export interface CouponDbRow {
  code: string;
  campaign_id: string;
  quota: number;
  redeemed_count: number;
  per_user_limit: number;
  valid_from: Date;
  valid_until: Date;
  updated_at: Date;
}

export interface DecisionDbRow {
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

export interface RedemptionDbRow {
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

export function couponTermsOf(row: CouponDbRow): CouponTerms {
  return { quota: row.quota, perUserLimit: row.per_user_limit, validFrom: row.valid_from.getTime(), validUntil: row.valid_until.getTime() };
}

/** Field by field, the decision row's columns as read into the stored decision's properties (statements.ts writes them). */
export const decisionRows = {
  fromDb(row: DecisionDbRow): StoredDecision {
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
  },
};

export const redemptionRows = {
  fromDb(row: RedemptionDbRow): RedemptionRow {
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
  },
};
