import { type DuckDBConnection, type DuckDBResultReader, DuckDBTypeId } from '@duckdb/node-api';

import { InputError } from '../../lib/errors.js';
import { withDuckDB } from '../duckdb.js';
import type { ResultTable } from './format.js';
import { type CatalogueCoupon, createCatalogueViews, createDecisionsView, namesCatalogue } from './views.js';

export interface QueryOptions {
  /** The folder `audit sink --to` landed in. */
  dir: string;
  /** One or more statements; each one's result is returned. */
  sql: string;
  /** The coupon catalogue, read only when a statement names it. */
  loadCatalogue(): Promise<CatalogueCoupon[]>;
}

const INTEGER_TYPES = new Set<DuckDBTypeId>([DuckDBTypeId.BIGINT, DuckDBTypeId.HUGEINT, DuckDBTypeId.UBIGINT, DuckDBTypeId.UHUGEINT]);

/** A result as JSON values: 64-bit integers as numbers where exact (counts are), else as text. */
function resultTable(reader: DuckDBResultReader): ResultTable {
  const columns = reader.columnNames();
  const integer = columns.map((_, i) => INTEGER_TYPES.has(reader.columnTypeId(i)));
  const rows = reader.getRowsJson().map((row) =>
    row.map((value, i) => {
      if (!integer[i] || typeof value !== 'string') return value;
      const n = Number(value);
      return Number.isSafeInteger(n) ? n : value;
    }),
  );
  return { columns, rows };
}

/** Bad SQL: DuckDB's own message (parser, binder, catalog errors name the place), without a stack trace. */
function queryFailed(error: unknown): InputError {
  const message = (error instanceof Error ? error.message : String(error)).replace(/^Failed to extract statements: /, '');
  return new InputError('INPUT_INVALID', `the query failed: ${message}`);
}

async function runStatements(db: DuckDBConnection, sql: string): Promise<ResultTable[]> {
  const statements = await db.extractStatements(sql).catch((error: unknown) => Promise.reject(queryFailed(error)));
  const results: ResultTable[] = [];
  for (let i = 0; i < statements.count; i += 1) {
    try {
      const prepared = await statements.prepare(i);
      results.push(resultTable(await prepared.runAndReadAll()));
    } catch (error) {
      throw queryFailed(error);
    }
  }
  return results;
}

/**
 * `redeem audit query`: runs SQL in an in-process DuckDB over the files `audit sink` landed, seen as
 * the view `decisions` (and the catalogue's `coupons`, `campaigns`, `coupon_decisions` when named).
 */
export async function queryLanded(o: QueryOptions): Promise<ResultTable[]> {
  if (o.sql.trim() === '') throw new InputError('INPUT_INVALID', 'no query given: pass the SQL as an argument or --file F');
  return withDuckDB(async (db) => {
    await createDecisionsView(db, o.dir);
    if (namesCatalogue(o.sql)) await createCatalogueViews(db, await o.loadCatalogue());
    return runStatements(db, o.sql);
  });
}
