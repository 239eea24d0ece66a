import type { RedemptionDecided } from '../../schemas/types.js';
import { hourFolder } from '../layout.js';

/** One landed row: the layout's columns (analytics/layout.ts), by name. */
export type DecisionRow = Record<string, string | number | Date | null>;

/** Where an audit record was read: its audit-topic partition and offset. */
export interface AuditPosition {
  partition: number;
  offset: number;
}

/**
 * A version-1 record carries no user (every version-2 record has one: a request cannot be without it),
 * so its campaign is taken from the coupon catalogue when it is landed.
 */
export const isVersion1 = (record: RedemptionDecided): boolean => record.user_id == null;

/** The row of an audit record read at `at`; `campaign`: the catalogue's, for a version-1 record. */
export function decisionRow(record: RedemptionDecided, at: AuditPosition, campaign: string | null = null): DecisionRow {
  return {
    request_id: record.request_id,
    coupon_code: record.coupon_code,
    op: record.op,
    decision: record.decision,
    reason: record.reason,
    remaining_quota: record.remaining_quota,
    original_decision: record.original_decision ?? null,
    original_reason: record.original_reason ?? null,
    user_id: record.user_id ?? null,
    order_id: record.order_id ?? null,
    campaign_id: record.campaign_id ?? campaign,
    amount_cents: record.amount_cents ?? null,
    currency: record.currency ?? null,
    occurred_at: record.occurred_at ?? null,
    decided_at: record.decided_at,
    consumer_id: record.consumer_id,
    source_partition: record.source_partition,
    source_offset: Number(record.source_offset),
    audit_partition: at.partition,
    audit_offset: at.offset,
  };
}

/** Rows grouped by the folder of their decision's UTC date and hour, each group in offset order. */
export function rowsByHour(rows: readonly DecisionRow[]): Map<string, DecisionRow[]> {
  const byHour = new Map<string, DecisionRow[]>();
  for (const row of rows) {
    const folder = hourFolder(row.decided_at as Date);
    let group = byHour.get(folder);
    if (!group) byHour.set(folder, (group = []));
    group.push(row);
  }
  return byHour;
}
