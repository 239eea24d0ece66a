import type { RedemptionOp, RedemptionRequested, RejectReason } from '../schemas/types.js';

/** A decoded, valid request and where it was read from. */
export interface SourcedRequest {
  request: RedemptionRequested;
  topic: string;
  partition: number;
  offset: number;
}

/** A decision as MySQL (and its Redis cache) keeps it: enough to re-emit the identical audit record. */
export interface StoredDecision {
  couponCode: string;
  requestId: string;
  op: RedemptionOp;
  decision: 'APPLIED' | 'REJECTED';
  reason: RejectReason | null;
  remainingQuota: number | null;
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: number;
  decidedAt: number;
  consumerId: string;
  /**
   * The coupon's campaign when decided (null: unknown coupon), for the audit record. Not a column: the
   * flush fills it from the coupon rows it loads; cache entries written before it existed lack it.
   */
  campaignId?: string | null;
}
