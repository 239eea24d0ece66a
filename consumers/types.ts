import type { RedemptionDecided, RedemptionOp, RedemptionRequested, RejectReason } from '../schemas/types.js';

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

/**
 * The in-memory key of a (coupon, request) pair. JSON keeps the two parts apart whatever they contain
 * (a separator character could also occur inside an id and join two different pairs into one key).
 */
export function decisionKey(couponCode: string, requestId: string): string {
  return JSON.stringify([couponCode, requestId]);
}

/** True when `stored` was made for this very message, i.e. the message is being redelivered. */
export function isSameMessage(stored: StoredDecision, source: SourcedRequest): boolean {
  return stored.sourceTopic === source.topic && stored.sourcePartition === source.partition && stored.sourceOffset === source.offset;
}

/**
 * What a message is, given the decision already stored for its (coupon, request), if any: `new` (no
 * decision yet: the rules decide it), `redelivered` (the decision was made for this very message: its
 * audit record is re-emitted unchanged) or `duplicate` (another message, an upstream retry, was decided).
 */
export type PriorState = { kind: 'new' } | { kind: 'redelivered'; record: RedemptionDecided } | { kind: 'duplicate'; record: RedemptionDecided };

export function priorState(stored: StoredDecision | undefined, source: SourcedRequest, decidedAt: number, consumerId: string): PriorState {
  if (!stored) return { kind: 'new' };
  return isSameMessage(stored, source) ? { kind: 'redelivered', record: auditRecordOf(stored) } : { kind: 'duplicate', record: duplicateRecordOf(source, decidedAt, consumerId) };
}

export function auditRecordOf(stored: StoredDecision): RedemptionDecided {
  return {
    request_id: stored.requestId,
    coupon_code: stored.couponCode,
    op: stored.op,
    decision: stored.decision,
    reason: stored.reason,
    remaining_quota: stored.remainingQuota,
    source_partition: stored.sourcePartition,
    source_offset: stored.sourceOffset,
    decided_at: new Date(stored.decidedAt),
    consumer_id: stored.consumerId,
  };
}

/**
 * The audit record of a message whose request was already decided from another message (an upstream
 * retry): it has no effect and no stored decision of its own.
 */
export function duplicateRecordOf(source: SourcedRequest, decidedAt: number, consumerId: string): RedemptionDecided {
  return {
    request_id: source.request.request_id,
    coupon_code: source.request.coupon_code,
    op: source.request.op,
    decision: 'DUPLICATE',
    reason: null,
    remaining_quota: null,
    source_partition: source.partition,
    source_offset: source.offset,
    decided_at: new Date(decidedAt),
    consumer_id: consumerId,
  };
}
