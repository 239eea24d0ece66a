import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import type { DuckDBConnection } from '@duckdb/node-api';

import { sqlString, tableOf, type TableRow, type TypedColumn } from '../duckdb.js';
import { COLUMNS, LAYOUT_FOLDER } from '../layout.js';

/** The catalogue as `audit query` sees it: the coupons table of MySQL, read when a query names it. */
export interface CatalogueCoupon {
  code: string;
  campaign_id: string;
  quota: number;
  per_user_limit: number;
  redeemed_count: number;
  valid_from: Date;
  valid_until: Date;
}

const CATALOGUE_COLUMNS: readonly TypedColumn[] = [
  { name: 'code', type: 'VARCHAR' },
  { name: 'campaign_id', type: 'VARCHAR' },
  { name: 'quota', type: 'INTEGER' },
  { name: 'per_user_limit', type: 'INTEGER' },
  { name: 'redeemed_count', type: 'INTEGER' },
  { name: 'valid_from', type: 'TIMESTAMPTZ' },
  { name: 'valid_until', type: 'TIMESTAMPTZ' },
];

/*
 * The views a query sees (docs/analysts.md):
 * - decisions: every landed row (analytics/layout.ts), with decided_date and decided_hour from the folders;
 * - coupons:   the coupon catalogue (MySQL's coupons table, read when the query names coupons or campaigns);
 * - campaigns: per campaign, its coupons and their total quota;
 * - coupon_decisions: decisions joined to their coupon's terms (quota, per_user_limit, valid_from/until).
 */

const hasParquet = (root: string): boolean => existsSync(root) && readdirSync(root, { recursive: true, encoding: 'utf8' }).some((f) => f.endsWith('.parquet'));

/** The `decisions` view over the files landed under `dir`; with no file yet, an empty view of the same columns. */
export async function createDecisionsView(db: DuckDBConnection, dir: string): Promise<void> {
  const root = join(dir, LAYOUT_FOLDER);
  const source = hasParquet(root)
    ? `SELECT * FROM read_parquet(${sqlString(join(root, '**', '*.parquet'))}, hive_partitioning = true, hive_types = {'decided_date': DATE, 'decided_hour': INTEGER})`
    : `SELECT ${COLUMNS.map((c) => `NULL::${c.type} AS ${c.name}`).join(', ')}, NULL::DATE AS decided_date, NULL::INTEGER AS decided_hour WHERE false`;
  await db.run(`CREATE VIEW decisions AS ${source}`);
}

/**
 * True when the query reads the catalogue: `coupons`, `campaigns` or `coupon_decisions` after FROM or
 * JOIN (a column alias such as `count(*) AS coupons` does not need MySQL).
 */
export const namesCatalogue = (sql: string): boolean => /\b(from|join)\s+(coupons|campaigns|coupon_decisions)\b/i.test(sql);

/** The catalogue's tables and views, from coupons read from MySQL. */
export async function createCatalogueViews(db: DuckDBConnection, coupons: readonly CatalogueCoupon[]): Promise<void> {
  await tableOf(db, 'coupons', CATALOGUE_COLUMNS, coupons as unknown as TableRow[]);
  await db.run(
    'CREATE VIEW campaigns AS SELECT campaign_id, count(*) AS coupons, sum(quota) AS quota, sum(redeemed_count) AS redeemed FROM coupons GROUP BY campaign_id',
  );
  await db.run(
    'CREATE VIEW coupon_decisions AS SELECT d.*, c.quota, c.per_user_limit, c.valid_from, c.valid_until FROM decisions d LEFT JOIN coupons c ON c.code = d.coupon_code',
  );
}
