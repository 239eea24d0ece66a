import knexFactory, { type Knex } from 'knex';
import mysql from 'mysql2/promise';

import { migrationSource } from '../migrations/index.js';
import { InputError, RedemptionError } from './errors.js';

export function databaseName(mysqlUrl: string): string {
  return new URL(mysqlUrl).pathname.replace(/^\//, '');
}

/**
 * A database name as a command takes it (diff, rebuild): a plain identifier, checked as given. It is put
 * into a URL's path, where "../x", "x/y" or "%2e%2e" would be normalised into another name (or none),
 * so anything else is refused, never cleaned up.
 */
export function checkDatabaseName(name: string, what = 'database name'): string {
  if (!/^[A-Za-z0-9_]{1,64}$/.test(name)) throw new InputError('INPUT_INVALID', `${what} "${name}" is not a database name: use 1-64 letters, digits or "_"`);
  return name;
}

/** A URL for the same server with another database, e.g. for a rebuild or an isolated test. */
export function withDatabase(mysqlUrl: string, database: string): string {
  checkDatabaseName(database);
  const url = new URL(mysqlUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * TLS for every MySQL connection this process makes (MYSQL_SSL_CA_FILE), set once at start by the
 * Runtime. Process-wide rather than passed along: connections are made from a URL in many places
 * (migrate, diff, rebuild, tests, namespaces), and one of them going out in clear must not be possible.
 */
let tls: mysql.SslOptions | undefined;

export function useMysqlTls(options: { ca: string; rejectUnauthorized: true } | undefined): void {
  tls = options;
}

function connectionOptions(mysqlUrl: string): mysql.ConnectionOptions {
  const url = new URL(mysqlUrl);
  return {
    ...(tls ? { ssl: tls } : {}),
    host: url.hostname,
    port: url.port ? Number(url.port) : 3306,
    user: decodeURIComponent(url.username || 'root'),
    password: decodeURIComponent(url.password),
    // Dates go in and come out as UTC, whatever the server's or the host's zone.
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
  };
}

export function createKnex(mysqlUrl: string, pool: { min: number; max: number } = { min: 0, max: 8 }, lockWaitTimeoutSeconds?: number): Knex {
  return knexFactory({
    client: 'mysql2',
    connection: { ...connectionOptions(mysqlUrl), database: databaseName(mysqlUrl) } as Knex.MySql2ConnectionConfig,
    pool: {
      ...pool,
      afterCreate: (connection: mysql.Connection, done: (error: Error | null, connection: mysql.Connection) => void) => {
        if (lockWaitTimeoutSeconds === undefined) return done(null, connection);
        // The callback-style connection knex hands over: set the session's lock wait timeout once.
        (connection as unknown as { query(sql: string, cb: (error: Error | null) => void): void }).query(
          `SET SESSION innodb_lock_wait_timeout = ${Math.floor(lockWaitTimeoutSeconds)}`,
          (error) => done(error, connection),
        );
      },
    },
    migrations: { migrationSource, tableName: 'knex_migrations' },
    // knex prints pool errors ("Acquire connection error" with a stack) to the console; the same error
    // reaches the caller, which reports it once in its own words.
    log: { warn: () => {}, error: () => {}, deprecate: () => {}, debug: () => {} },
  });
}

/** MySQL's answer to a login with a wrong user or password, or a user without rights on the database. */
export function isAccessDenied(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR' || code === 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR';
}

/** A failed connection, told apart: a server that does not answer, or one that refuses the credentials. */
export function mysqlConnectError(mysqlUrl: string, error: unknown): RedemptionError {
  const host = new URL(mysqlUrl).host;
  const message = isAccessDenied(error)
    ? `MySQL at ${host} answers but refuses the user and password of MYSQL_URL: ${(error as Error).message}`
    : `MySQL at ${host} does not answer: ${(error as Error).message}`;
  return new RedemptionError('STORAGE_UNAVAILABLE', message, { cause: error, retriable: !isAccessDenied(error) });
}

/** A plain connection to the URL's server, no database chosen; a failure says which server and why. */
async function connectToServer(mysqlUrl: string): Promise<mysql.Connection> {
  try {
    return await mysql.createConnection(connectionOptions(mysqlUrl));
  } catch (error) {
    throw mysqlConnectError(mysqlUrl, error);
  }
}

export async function createDatabaseIfMissing(mysqlUrl: string): Promise<void> {
  const connection = await connectToServer(mysqlUrl);
  try {
    await connection.query(`CREATE DATABASE IF NOT EXISTS \`${databaseName(mysqlUrl)}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } finally {
    await connection.end();
  }
}

/**
 * Logs in with the URL's credentials to its database and reads one of the pipeline's tables: what
 * `redeem status` calls usable. Throws MySQL's own reason (access denied, unknown database, no table).
 * A plain connection, not the pool: knex logs every failed acquire, and status reports it itself.
 */
export async function checkMysqlUsable(mysqlUrl: string): Promise<void> {
  const connection = await mysql.createConnection({ ...connectionOptions(mysqlUrl), database: databaseName(mysqlUrl), connectTimeout: 5000 });
  try {
    await connection.query('SELECT 1 FROM decisions LIMIT 1');
  } finally {
    await connection.end();
  }
}

/** The tables of the URL's database, or null when there is no such database. */
export async function databaseTables(mysqlUrl: string): Promise<string[] | null> {
  const connection = await connectToServer(mysqlUrl);
  try {
    const name = databaseName(mysqlUrl);
    const [schemas] = await connection.query<mysql.RowDataPacket[]>('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [name]);
    if (schemas.length === 0) return null;
    const [tables] = await connection.query<mysql.RowDataPacket[]>('SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [name]);
    return tables.map((t) => String(t.name)).sort();
  } finally {
    await connection.end();
  }
}

export async function dropDatabase(mysqlUrl: string): Promise<void> {
  const connection = await mysql.createConnection(connectionOptions(mysqlUrl));
  try {
    await connection.query(`DROP DATABASE IF EXISTS \`${databaseName(mysqlUrl)}\``);
  } finally {
    await connection.end();
  }
}

/** The rights the pipeline's own user needs on its database: read, insert and update rows, nothing else. */
export const RUNTIME_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE'] as const;

/**
 * Creates (or updates) MYSQL_URL's user as the administrator of `adminUrl`: its password is the one in
 * MYSQL_URL, and on its database it holds exactly RUNTIME_PRIVILEGES (anything it had there before is
 * revoked first). No DDL, no DELETE, nothing on other databases.
 */
export async function ensureRuntimeUser(
  adminUrl: string,
  runtimeUrl: string,
  host: string,
): Promise<{ user: string; host: string; privileges: readonly string[]; requireSsl: boolean }> {
  const runtime = new URL(runtimeUrl);
  const user = decodeURIComponent(runtime.username);
  const password = decodeURIComponent(runtime.password);
  const database = databaseName(runtimeUrl);
  let connection: mysql.Connection;
  try {
    connection = await mysql.createConnection(connectionOptions(adminUrl));
  } catch (error) {
    throw mysqlConnectError(adminUrl, error);
  }
  try {
    await connection.query('CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?', [user, host, password]);
    // An existing user gets the password of MYSQL_URL: rotating it is editing MYSQL_URL and migrating.
    // With TLS configured, the server also refuses this user any connection without it, so a client
    // that lost its CA setting fails instead of sending the password in clear.
    await connection.query(`ALTER USER ?@? IDENTIFIED BY ? REQUIRE ${tls ? 'SSL' : 'NONE'}`, [user, host, password]);
    await connection.query(`REVOKE ALL PRIVILEGES ON \`${database}\`.* FROM ?@?`, [user, host]).catch((error: { code?: string }) => {
      // Nothing granted on it yet.
      if (error.code !== 'ER_NONEXISTING_GRANT') throw error;
    });
    await connection.query(`GRANT ${RUNTIME_PRIVILEGES.join(', ')} ON \`${database}\`.* TO ?@?`, [user, host]);
  } finally {
    await connection.end();
  }
  return { user, host, privileges: RUNTIME_PRIVILEGES, requireSsl: tls !== undefined };
}

/** Creates the database if needed and runs every pending migration; returns the names it ran. */
export async function migrateToLatest(mysqlUrl: string): Promise<string[]> {
  await createDatabaseIfMissing(mysqlUrl);
  const knex = createKnex(mysqlUrl, { min: 0, max: 1 });
  try {
    const [, ran] = (await knex.migrate.latest()) as [number, string[]];
    return ran;
  } finally {
    await knex.destroy();
  }
}
