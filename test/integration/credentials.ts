import { randomBytes } from 'node:crypto';

import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';

import { loadConfig } from '../../lib/config.js';
import { redisSetUser } from '../../lib/redis-acl.js';

/**
 * Users that a test creates for itself on the shared MariaDB and Redis, with unique names and a random
 * password, and drops afterwards: the tests of credentials and secrets need real logins, and must not
 * touch anyone else's.
 */
export interface TestUser {
  name: string;
  password: string;
  drop(): Promise<void>;
}

/** A password that cannot occur in output by chance, so that finding it anywhere means it leaked. */
export function uniqueSecret(): string {
  return `Pw-${randomBytes(9).toString('hex')}-x`;
}

async function asRoot<T>(work: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const url = new URL(loadConfig({}).mysqlUrl);
  const connection = await mysql.createConnection({
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username || 'root'),
    password: decodeURIComponent(url.password),
  });
  try {
    return await work(connection);
  } finally {
    await connection.end();
  }
}

/** A MariaDB user `name`@'%' with all rights on `database` only (so it can migrate its own test database). */
export async function createMysqlUser(name: string, database: string, password = uniqueSecret()): Promise<TestUser> {
  await asRoot(async (c) => {
    await c.query('CREATE USER ?@? IDENTIFIED BY ?', [name, '%', password]);
    await c.query(`GRANT ALL PRIVILEGES ON \`${database}\`.* TO ?@?`, [name, '%']);
  });
  return { name, password, drop: () => asRoot(async (c) => void (await c.query('DROP USER IF EXISTS ?@?', [name, '%']))) };
}

/** The grants MariaDB holds for a user, as SHOW GRANTS prints them. */
export async function mysqlGrants(name: string, host = '%'): Promise<string[]> {
  return asRoot(async (c) => {
    const [rows] = (await c.query('SHOW GRANTS FOR ?@?', [name, host])) as unknown as [Record<string, string>[]];
    return rows.map((r) => Object.values(r)[0]!);
  });
}

/** Runs `statement` as the shared MariaDB's administrator (a test's own user, e.g. to widen its grants). */
export async function asMysqlRoot(statement: string, values: unknown[] = []): Promise<unknown> {
  return asRoot(async (c) => (await c.query(statement, values))[0]);
}

export async function dropMysqlUser(name: string, host = '%'): Promise<void> {
  await asRoot(async (c) => void (await c.query('DROP USER IF EXISTS ?@?', [name, host])));
}

/** A Redis ACL user with the pipeline's runtime rights (lib/redis-acl.ts): its commands, on the keys under `keyPrefix` only. */
export async function createRedisUser(name: string, keyPrefix: string, password = uniqueSecret()): Promise<TestUser> {
  const admin = new Redis(loadConfig({}).redisUrl, { lazyConnect: true });
  await admin.connect();
  try {
    const [command, ...args] = redisSetUser(name, keyPrefix, password);
    await admin.call(command!, ...args);
  } finally {
    admin.disconnect();
  }
  return {
    name,
    password,
    drop: async () => {
      const r = new Redis(loadConfig({}).redisUrl, { lazyConnect: true });
      await r.connect();
      try {
        await r.call('ACL', 'DELUSER', name);
      } finally {
        r.disconnect();
      }
    },
  };
}
