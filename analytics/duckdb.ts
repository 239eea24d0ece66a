import { type DuckDBAppender, type DuckDBConnection, DuckDBInstance, DuckDBTimestampTZValue } from '@duckdb/node-api';

/**
 * An in-process DuckDB (in memory) for the length of `work`, closed after it: the sink writes Parquet
 * through it, `audit query` reads the landed files with it.
 */
export async function withDuckDB<T>(work: (db: DuckDBConnection) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    // The landed folders are UTC days and hours: current_date and the display of times agree with them.
    await connection.run("SET TimeZone = 'UTC'");
    return await work(connection);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** A string as an SQL literal (DuckDB's COPY and table functions take no parameters for paths). */
export const sqlString = (value: string): string => `'${value.replaceAll("'", "''")}'`;

/** A column of a table made from JavaScript rows. */
export interface TypedColumn {
  name: string;
  type: 'VARCHAR' | 'INTEGER' | 'BIGINT' | 'TIMESTAMPTZ';
}

export type TableRow = Record<string, string | number | Date | null | undefined>;

function appendValue(appender: DuckDBAppender, type: TypedColumn['type'], value: TableRow[string]): void {
  if (value === null || value === undefined) return appender.appendNull();
  switch (type) {
    case 'VARCHAR':
      return appender.appendVarchar(String(value));
    case 'INTEGER':
      return appender.appendInteger(Number(value));
    case 'BIGINT':
      return appender.appendBigInt(BigInt(value as number));
    case 'TIMESTAMPTZ':
      return appender.appendTimestampTZ(new DuckDBTimestampTZValue(BigInt((value as Date).getTime()) * 1000n));
  }
}

/** (Re)creates the temporary table `name` holding `rows`, appended column by column. */
export async function tableOf(db: DuckDBConnection, name: string, columns: readonly TypedColumn[], rows: readonly TableRow[]): Promise<void> {
  await db.run(`CREATE OR REPLACE TEMP TABLE ${name} (${columns.map((c) => `${c.name} ${c.type}`).join(', ')})`);
  const appender = await db.createAppender(name);
  try {
    for (const row of rows) {
      for (const column of columns) appendValue(appender, column.type, row[column.name]);
      appender.endRow();
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
}
