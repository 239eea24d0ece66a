/**
 * The flush's MySQL session: a connection borrowed from the consumer's knex pool (so it has the pool's
 * TLS, time zone and lock wait timeout), used directly with SQL text built by sql/statements.ts. The hot
 * path skips knex's query builder (compiling a multi-row statement and its bindings per flush cost about
 * 6% of a drain's CPU); knex stays for migrations and admin queries.
 *
 * A transaction is two round trips where the pool's connections take several statements at once
 * (`multipleStatements`, as the Runtime's pool does): its start with the reads, then the writes with
 * its end. One round trip per statement otherwise. Every round trip is a wait for MySQL and, on a busy
 * host, for a core: a flush made eight of them.
 */
import type { Knex } from 'knex';
import mysql from 'mysql2';

/** A MySQL connection on which one flush's transaction runs. */
export interface SqlSession {
  /**
   * Runs the statements in order, in one round trip where the connection allows it, and returns each
   * one's result (rows for a SELECT). The first call of a transaction starts it.
   */
  query(statements: readonly string[]): Promise<unknown[]>;
}

/** The callback-style mysql2 connection knex's pool hands out. */
interface PooledConnection {
  query(sql: string, callback: (error: Error | null, rows: unknown) => void): void;
  config: { queryFormat?: (sql: string) => string; multipleStatements?: boolean };
}

/** The text goes as written: every value in it is a literal already (mysql2 would scan it for placeholders). */
const asWritten = (sql: string) => sql;

/** knex's pool, through the client methods its own transactions use. */
interface PoolClient {
  acquireConnection(): Promise<PooledConnection>;
  releaseConnection(connection: PooledConnection): Promise<void>;
}

/** Pooled connections whose session isolation level is READ COMMITTED already. */
const readCommitted = new WeakSet<PooledConnection>();

/** How a transaction ends: its last writes, then COMMIT or ROLLBACK, in one round trip. */
export interface TransactionEnd<T> {
  result: T;
  commit: boolean;
  /** Statements sent with the end, before it. */
  writes: readonly string[];
  /** Called just before the end is sent (the last moment at which nothing of the transaction is written). */
  beforeEnd?(): void;
  /** Called once the transaction ended as asked. */
  after?(): void;
}

/**
 * Runs `work` in one READ COMMITTED transaction on a pooled connection, then sends the writes `work`
 * returns with COMMIT (or ROLLBACK when `commit` is false), and runs `after`. Any error rolls the
 * transaction back. The connection always goes back to the pool.
 */
export async function inTransaction<T>(knex: Knex, work: (session: SqlSession) => Promise<TransactionEnd<T>>): Promise<T> {
  const client = knex.client as unknown as PoolClient;
  const connection = await client.acquireConnection();
  const send = (sql: string) => new Promise<unknown>((resolve, reject) => connection.query(sql, (error, rows) => (error ? reject(error) : resolve(rows))));
  const together = connection.config.multipleStatements === true;
  let open = false;
  const session: SqlSession = {
    async query(statements) {
      const prefix: string[] = [];
      if (!readCommitted.has(connection)) {
        // Once per pooled connection rather than before each transaction. The pool's other users (admin
        // reads of one statement each) read the same under either level.
        prefix.push('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
      }
      if (!open) prefix.push('START TRANSACTION');
      const all = [...prefix, ...statements];
      // Open from the moment START TRANSACTION may have run: a failure after it rolls back.
      open = true;
      let results: unknown[];
      if (together && all.length > 1) {
        results = (await send(all.join(';\n'))) as unknown[];
      } else {
        results = [];
        for (const sql of all) results.push(await send(sql));
      }
      readCommitted.add(connection);
      return results.slice(prefix.length);
    },
  };
  // Only while this transaction holds the connection: knex's own queries on it pass bindings.
  connection.config.queryFormat = asWritten;
  try {
    const end = await work(session);
    end.beforeEnd?.();
    await session.query([...end.writes, end.commit ? 'COMMIT' : 'ROLLBACK']);
    open = false;
    end.after?.();
    return end.result;
  } catch (error) {
    // A connection that broke is dropped by the pool's validation when it is next acquired.
    if (open) await send('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    connection.config.queryFormat = undefined;
    await client.releaseConnection(connection);
  }
}

/** A string, number, Date or null as a MySQL literal (strings escaped as mysql2 does; Dates in UTC). */
export function literal(value: string | number | Date | null): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`not a finite number: ${value}`);
    return String(value);
  }
  if (typeof value === 'string') return mysql.escape(value);
  return dateLiteral(value);
}

/** 'YYYY-MM-DD HH:MM:SS.mmm' in UTC, as DATETIME(3) columns hold it (the connections run in UTC). */
export function dateLiteral(d: Date): string {
  const t = d.getTime();
  if (Number.isNaN(t)) throw new TypeError('not a valid date');
  const iso = d.toISOString();
  // Years outside 0000-9999 (a six-digit ISO year): as mysql2 writes them, for MySQL to refuse.
  if (iso.length !== 24) return mysql.escape(d, false, 'Z');
  return `'${iso.slice(0, 10)} ${iso.slice(11, 23)}'`;
}

/** `(a, b, ...)` of literals: the list of an IN. */
export function list(values: readonly (string | number)[]): string {
  const out = ['('];
  for (let i = 0; i < values.length; i++) out.push(i > 0 ? ', ' : '', literal(values[i]!));
  out.push(')');
  return out.join('');
}

/** `((a, b), (c, d), ...)` of literals: the list of a two-column row IN, `(x, y) IN ...`. */
export function pairList(pairs: readonly (readonly [string, string])[]): string {
  const out = ['('];
  for (let i = 0; i < pairs.length; i++) out.push(i > 0 ? ', (' : '(', literal(pairs[i]![0]), ', ', literal(pairs[i]![1]), ')');
  out.push(')');
  return out.join('');
}
