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
}
