/**
 * The landed audit stream's layout, version 1 (docs/analysts.md describes it for readers):
 *
 *   DIR/decisions-v1/decided_date=2026-12-05/decided_hour=10/<topic>-p<partition>-<first>-<last>.parquet
 *
 * One row per decided source record (requests-topic partition and offset), columns as `COLUMNS`. A
 * file holds the rows of one audit-topic partition's offsets first..last (12 digits each, inclusive)
 * whose decision fell in that UTC hour; one chunk of offsets may leave a file in several hours, all of
 * the same name. A change of columns or naming is a new version in a folder of its own beside this one.
 */
import { join } from 'node:path';

import type { TypedColumn } from './duckdb.js';

export const LAYOUT_VERSION = 1;
export const LAYOUT_FOLDER = `decisions-v${LAYOUT_VERSION}`;

/** A column: its name, its DuckDB type as written to Parquet, what it holds. */
export interface Column extends TypedColumn {
  doc: string;
}

/** The columns in file order: the audit record's fields, then where the row came from. */
export const COLUMNS: readonly Column[] = [
  { name: 'request_id', type: 'VARCHAR', doc: "the checkout's request id" },
  { name: 'coupon_code', type: 'VARCHAR', doc: 'the coupon' },
  { name: 'op', type: 'VARCHAR', doc: 'REDEEM or REVERSE' },
  { name: 'decision', type: 'VARCHAR', doc: 'APPLIED, REJECTED or DUPLICATE' },
  { name: 'reason', type: 'VARCHAR', doc: 'for REJECTED: NOT_FOUND, EXPIRED, EXHAUSTED, USER_LIMIT, NOT_REDEEMED, ...' },
  { name: 'remaining_quota', type: 'BIGINT', doc: "the coupon's quota left after the decision" },
  { name: 'original_decision', type: 'VARCHAR', doc: "for DUPLICATE: the first message's decision" },
  { name: 'original_reason', type: 'VARCHAR', doc: 'for a DUPLICATE of a REJECTED request: its reason' },
  { name: 'user_id', type: 'VARCHAR', doc: 'the user (null in version-1 records)' },
  { name: 'order_id', type: 'VARCHAR', doc: 'the order (null in version-1 records)' },
  { name: 'campaign_id', type: 'VARCHAR', doc: "the coupon's campaign (version-1 records: from the coupon catalogue when landed; null for an unknown coupon)" },
  { name: 'amount_cents', type: 'BIGINT', doc: "the order's amount (null in version-1 records)" },
  { name: 'currency', type: 'VARCHAR', doc: 'ISO-4217 (null in version-1 records)' },
  { name: 'occurred_at', type: 'TIMESTAMPTZ', doc: "the request's occurred_at (null in version-1 records)" },
  { name: 'decided_at', type: 'TIMESTAMPTZ', doc: 'when the pipeline decided; gives decided_date and decided_hour (UTC)' },
  { name: 'consumer_id', type: 'VARCHAR', doc: 'the member that decided' },
  { name: 'source_partition', type: 'INTEGER', doc: 'requests-topic partition: with source_offset, the key of a row' },
  { name: 'source_offset', type: 'BIGINT', doc: 'requests-topic offset' },
  { name: 'audit_partition', type: 'INTEGER', doc: 'audit-topic partition the row was read from' },
  { name: 'audit_offset', type: 'BIGINT', doc: 'audit-topic offset of the first record of this source record' },
];

/** The Hive-style folders of a decision time: its UTC date and hour. */
export function hourFolder(decidedAt: Date): string {
  const iso = decidedAt.toISOString();
  return join(`decided_date=${iso.slice(0, 10)}`, `decided_hour=${iso.slice(11, 13)}`);
}

const pad = (offset: number) => String(offset).padStart(12, '0');

/** The file name of a chunk: audit topic, partition and offsets first..last, inclusive. */
export function chunkFileName(topic: string, partition: number, first: number, last: number): string {
  return `${topic}-p${partition}-${pad(first)}-${pad(last)}.parquet`;
}

export interface ChunkName {
  topic: string;
  partition: number;
  first: number;
  last: number;
}

/** The topic, partition and offset range a landed file's name gives; null for any other file. */
export function parseChunkFileName(name: string): ChunkName | null {
  const match = /^(.+)-p(\d+)-(\d{12})-(\d{12})\.parquet$/.exec(name);
  if (!match) return null;
  return { topic: match[1]!, partition: Number(match[2]), first: Number(match[3]), last: Number(match[4]) };
}

/** Where a write goes before its rename: hidden, and not a `.parquet` a reader's glob would take. */
export const temporaryName = (fileName: string): string => `.${fileName}.tmp`;
