/** The TypeScript shapes of the Avro records in this folder; the .avsc files are the contract. */

export type RedemptionOp = 'REDEEM' | 'REVERSE';
export type Decision = 'APPLIED' | 'DUPLICATE' | 'REJECTED';
export type RejectReason = 'NOT_FOUND' | 'NOT_YET_VALID' | 'EXPIRED' | 'EXHAUSTED' | 'USER_LIMIT' | 'NOT_REDEEMED';

export const REJECT_REASONS: readonly RejectReason[] = ['NOT_FOUND', 'NOT_YET_VALID', 'EXPIRED', 'EXHAUSTED', 'USER_LIMIT', 'NOT_REDEEMED'];
export const DECISIONS: readonly Decision[] = ['APPLIED', 'DUPLICATE', 'REJECTED'];

export interface RedemptionRequested {
  request_id: string;
  coupon_code: string;
  user_id: string;
  order_id: string;
  op: RedemptionOp;
  reverses_request_id: string | null;
  amount_cents: number;
  currency: string;
  /** avsc maps timestamp-millis to a Date. */
  occurred_at: Date;
  source: string;
}

export interface RedemptionDecided {
  request_id: string;
  coupon_code: string;
  op: RedemptionOp;
  decision: Decision;
  reason: RejectReason | null;
  remaining_quota: number | null;
  source_partition: number;
  source_offset: number;
  decided_at: Date;
  consumer_id: string;
  // Version 2 of the schema: optional, null in records written with version 1 (readers get the default).
  /** For a DUPLICATE: the decision of the request id's first message; null otherwise. */
  original_decision?: Exclude<Decision, 'DUPLICATE'> | null;
  /** For a DUPLICATE of a REJECTED request: its reason; null otherwise. */
  original_reason?: RejectReason | null;
  user_id?: string | null;
  order_id?: string | null;
  /** The coupon's campaign when decided; null for an unknown coupon. */
  campaign_id?: string | null;
  amount_cents?: number | null;
  currency?: string | null;
  /** The request's occurred_at. */
  occurred_at?: Date | null;
}
