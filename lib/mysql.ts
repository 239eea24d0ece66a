import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import knexFactory, { type Knex } from 'knex';
import mysql from 'mysql2/promise';

import { migrationSource } from '../migrations/index.js';
import { InputError, RedemptionError } from './errors.js';
import { grantsBeyond, requiresTls } from './mysql-grants.js';

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

/**
 * A knex pool on the URL's database. `multipleStatements` lets the flush send several statements in one
 * round trip (consumers/sql/session.ts): only for the pool the flush runs on, whose hand-written SQL
 * puts every value through mysql2's escaping (`literal`); knex's own queries pass bindings.
 */
export function createKnex(
  mysqlUrl: string,
  pool: { min: number; max: number } = { min: 0, max: 8 },
  lockWaitTimeoutSeconds?: number,
  options: { multipleStatements?: boolean } = {},
): Knex {
  return knexFactory({
    client: 'mysql2',
    connection: {
      ...connectionOptions(mysqlUrl),
      database: databaseName(mysqlUrl),
      ...(options.multipleStatements ? { multipleStatements: true } : {}),
    } as Knex.MySql2ConnectionConfig,
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
export async function connectToServer(mysqlUrl: string): Promise<mysql.Connection> {
  try {
    return await mysql.createConnection(connectionOptions(mysqlUrl));
  } catch (error) {
    throw mysqlConnectError(mysqlUrl, error);
  }
}

/** Runs `work` on a connection to the URL's server (no database chosen), closed after. */
export async function withServerConnection<T>(mysqlUrl: string, work: (connection: mysql.Connection) => Promise<T>): Promise<T> {
  const connection = await connectToServer(mysqlUrl);
  try {
    return await work(connection);
  } finally {
    await connection.end();
  }
}

/**
 * The process id of the MySQL server of the URL, which must run on this machine: the one a fault that
 * pauses MySQL (the chaos run's pause-mysql) must stop, not whichever server `pidof` lists first (a
 * machine may run several: a test's own MariaDB beside the shared one). Read from the server's own pid
 * file (`@@pid_file`, relative to `@@datadir` when not absolute), and checked to be a running mysqld
 * or mariadbd.
 */
export async function localServerPid(mysqlUrl: string): Promise<number> {
  const host = new URL(mysqlUrl).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host))
    throw new InputError('INPUT_INVALID', `MySQL at ${host} (MYSQL_URL) is not on this machine: its server process cannot be paused from here`);
  const connection = await connectToServer(mysqlUrl);
  let pidFile: string;
  try {
    const [rows] = await connection.query('SELECT @@pid_file AS pid_file, @@datadir AS datadir');
    const [row] = rows as { pid_file: string; datadir: string }[];
    pidFile = resolve(row!.datadir, row!.pid_file);
  } finally {
    await connection.end();
  }
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch {
      return '';
    }
  };
  const pid = Number(read(pidFile));
  const name = Number.isInteger(pid) && pid > 0 ? read(`/proc/${pid}/comm`) : '';
  if (name !== 'mariadbd' && name !== 'mysqld')
    throw new RedemptionError(
      'STORAGE_FAILED',
      `MySQL at ${host} names ${pidFile} as its pid file, which does not hold the id of a running mysqld or mariadbd`,
    );
  return pid;
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

/** What `migrate` may change beyond the runtime user's own database, when told to. */
export interface RuntimeUserOptions {
  /** Revoke every grant the user holds beyond its own database (otherwise they stop migrate). */
  revokeOtherGrants?: boolean;
  /** Without MYSQL_SSL_CA_FILE, drop a TLS requirement the user has (otherwise it is kept). */
  dropTlsRequirement?: boolean;
}

/** The runtime user holds rights beyond its own database: migrate will not leave them nor take them silently. */
export class GrantsTooBroadError extends RedemptionError {
  constructor(
    readonly account: string,
    readonly beyond: readonly string[],
  ) {
    super(
      'GRANTS_TOO_BROAD',
      `MYSQL_URL's user ${account} holds more than ${RUNTIME_PRIVILEGES.join(', ')} on its database: ${beyond.join('; ')}. Revoke them (or use another user), or run migrate --revoke-other-grants to have migrate revoke them`,
    );
  }
}

async function showGrants(connection: mysql.Connection, user: string, host: string): Promise<string[]> {
  const [rows] = (await connection.query('SHOW GRANTS FOR ?@?', [user, host])) as unknown as [Record<string, string>[]];
  return rows.map((r) => Object.values(r)[0]!);
}

async function showCreateUser(connection: mysql.Connection, user: string, host: string): Promise<string> {
  const [rows] = (await connection.query('SHOW CREATE USER ?@?', [user, host])) as unknown as [Record<string, string>[]];
  return Object.values(rows[0] ?? {})[0] ?? '';
}

/**
 * Creates (or updates) MYSQL_URL's user as the administrator of `adminUrl`: its password is the one in
 * MYSQL_URL, and on its database it holds exactly RUNTIME_PRIVILEGES (anything it had there before is
 * revoked first). No DDL, no DELETE, nothing on other databases: a grant elsewhere (another database,
 * a global privilege, a table grant, a role) stops it with GrantsTooBroadError, or is revoked with
 * `revokeOtherGrants`. With TLS configured the user is required to use it; without, a requirement it
 * already has is kept unless `dropTlsRequirement`. It checks the grants it leaves.
 */
export async function ensureRuntimeUser(
  adminUrl: string,
  runtimeUrl: string,
  host: string,
  o: RuntimeUserOptions = {},
): Promise<{ user: string; host: string; privileges: readonly string[]; requireSsl: boolean; revoked: string[] }> {
  const runtime = new URL(runtimeUrl);
  const user = decodeURIComponent(runtime.username);
  const password = decodeURIComponent(runtime.password);
  const database = databaseName(runtimeUrl);
  const account = `'${user}'@'${host}'`;
  let connection: mysql.Connection;
  try {
    connection = await mysql.createConnection(connectionOptions(adminUrl));
  } catch (error) {
    throw mysqlConnectError(adminUrl, error);
  }
  try {
    await connection.query('CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?', [user, host, password]);
    const beyond = grantsBeyond(await showGrants(connection, user, host), database);
    if (beyond.length > 0 && !o.revokeOtherGrants) throw new GrantsTooBroadError(account, beyond);
    // An existing user gets the password of MYSQL_URL: rotating it is editing MYSQL_URL and migrating.
    // With TLS configured, the server also refuses this user any connection without it, so a client
    // that lost its CA setting fails instead of sending the password in clear. Without, a requirement
    // the user has stays: a missing setting must not downgrade it.
    const requireSsl = tls !== undefined || (!o.dropTlsRequirement && requiresTls(await showCreateUser(connection, user, host)));
    const require = tls !== undefined ? ' REQUIRE SSL' : o.dropTlsRequirement ? ' REQUIRE NONE' : '';
    await connection.query(`ALTER USER ?@? IDENTIFIED BY ?${require}`, [user, host, password]);
    // Everything everywhere when told to (roles are not privileges: they stay named in the check below).
    const scope = beyond.length > 0 ? 'ALL PRIVILEGES, GRANT OPTION' : `ALL PRIVILEGES ON \`${database}\`.*`;
    await connection.query(`REVOKE ${scope} FROM ?@?`, [user, host]).catch((error: { code?: string }) => {
      // Nothing granted on it yet.
      if (error.code !== 'ER_NONEXISTING_GRANT') throw error;
    });
    await connection.query(`GRANT ${RUNTIME_PRIVILEGES.join(', ')} ON \`${database}\`.* TO ?@?`, [user, host]);
    const left = grantsBeyond(await showGrants(connection, user, host), database);
    if (left.length > 0) throw new GrantsTooBroadError(account, left);
    return { user, host, privileges: RUNTIME_PRIVILEGES, requireSsl, revoked: beyond };
  } finally {
    await connection.end();
  }
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
