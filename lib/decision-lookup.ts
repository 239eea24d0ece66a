import type { Knex } from 'knex';

import type { RedemptionOp, RejectReason } from '../schemas/types.js';

/** A decision as stored in MySQL (the first message of a request id decides it; its retries do not). */
export interface StoredDecisionView {
  coupon_code: string;
  request_id: string;
  op: RedemptionOp;
  decision: 'APPLIED' | 'REJECTED';
  reason: RejectReason | null;
  remaining_quota: number | null;
  source_topic: string;
  source_partition: number;
  source_offset: number;
  decided_at: string;
}

/** The stored decision of (coupon, request id), or null when there is none (not decided yet, or never sent). */
export async function findDecision(knex: Knex, couponCode: string, requestId: string): Promise<StoredDecisionView | null> {
  const row = (await knex('decisions')
    .where({ coupon_code: couponCode, request_id: requestId })
    .first('coupon_code', 'request_id', 'op', 'decision', 'reason', 'remaining_quota', 'source_topic', 'source_partition', 'source_offset', 'decided_at')) as
    | (Omit<StoredDecisionView, 'decided_at' | 'remaining_quota' | 'source_offset'> & {
        decided_at: Date;
        remaining_quota: number | string | null;
        source_offset: number | string;
      })
    | undefined;
  if (!row) return null;
  return {
    ...row,
    remaining_quota: row.remaining_quota === null ? null : Number(row.remaining_quota),
    source_offset: Number(row.source_offset),
    decided_at: row.decided_at.toISOString(),
  };
}
