import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createRedisUser, dropMysqlUser, mysqlGrants, type TestUser, uniqueSecret } from './credentials.js';
import { IsolatedPipeline } from './helpers.js';

/**
 * The pipeline runs as a MySQL user that `redeem migrate` (as the administrator) made with only the
 * rights it needs, and as a Redis ACL user limited to its key prefix, and still decides everything
 * exactly as the reference does; the MySQL user cannot change the schema or delete rows.
 */
describe('least-privilege credentials', () => {
  const p = new IsolatedPipeline();
  const user = `rrt_${p.id}`;
  const password = uniqueSecret();
  let redisUser: TestUser;
  let env: Record<string, string>;

  beforeAll(async () => {
    // No setUp(): migrate itself, as the administrator, must create the database.
    redisUser = await createRedisUser(`rrt_${p.id}`, p.config.redisKeyPrefix);
    const runtime = new URL(p.config.mysqlUrl);
    runtime.username = user;
    runtime.password = password;
    const admin = new URL(p.config.mysqlUrl);
    admin.pathname = '/';
    env = {
      ...p.env,
      MYSQL_URL: runtime.toString(),
      MYSQL_ADMIN_URL: admin.toString(),
      MYSQL_RUNTIME_USER_HOST: '127.0.0.1',
      REDIS_URL: `redis://${redisUser.name}:${redisUser.password}@127.0.0.1:6379`,
    };
  });
  afterAll(async () => {
    await dropMysqlUser(user, '127.0.0.1');
    await redisUser?.drop();
    await p.cleanup();
  });

  it('migrate as the administrator creates the runtime user with SELECT, INSERT and UPDATE on its database only', async () => {
    const result = await p.cli(['migrate'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('migrated: 20261124000001_initial_schema');
    expect(result.stdout).toContain(`runtime user '${user}'@'127.0.0.1': SELECT, INSERT, UPDATE on redeem_test_${p.id}, nothing else`);
    const grants = await mysqlGrants(user, '127.0.0.1');
    expect(grants).toHaveLength(2);
    expect(grants[0]).toMatch(new RegExp(`^GRANT USAGE ON \\*\\.\\* TO \`${user}\`@\`127\\.0\\.0\\.1\` IDENTIFIED BY PASSWORD`));
    expect(grants[1]).toBe(`GRANT SELECT, INSERT, UPDATE ON \`redeem_test_${p.id}\`.* TO \`${user}\`@\`127.0.0.1\``);
    // Running it again changes nothing and keeps the user working (the password is re-applied).
    const again = await p.cli(['migrate'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('already up to date');
    expect(await mysqlGrants(user, '127.0.0.1')).toEqual(grants);
  });

  it('the pipeline works end to end as that user and the ACL-limited Redis user', async () => {
    const status = await p.cli(['status'], env);
    expect(status.stdout).toMatch(/mysql\s+\S+\s+up: answers, logged in and usable/);
    expect(status.stdout).toMatch(/redis\s+\S+\s+up: answers, logged in and usable/);
    expect((await p.cli(['coupons', 'generate', '--count', '10', '--prefix', 'LP', '--quota', '20'], env)).code).toBe(0);
    const produced = await p.cli(['produce', '--generate', '1000', '--coupons', '12', '--coupon-prefix', 'LP', '--no-progress'], env);
    expect(produced.code, produced.stderr).toBe(0);
    const consumed = await p.cli(['consume', '--exit-when-idle', '1'], env);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stderr).not.toMatch(/denied|NOPERM/i);
    const verify = await p.cli(['verify', '--no-progress'], env);
    expect(verify.stdout).toContain('EQUAL');
    // Redis was really used through the ACL user: status reads the consumer's flush marker through it.
    const after = await p.cli(['status'], env);
    expect(after.code, after.stdout + after.stderr).toBe(0);
    expect(after.stdout).toMatch(/last flush \d{4}-.* by .*: \d+ decision\(s\)/);
  });

  it('the runtime user cannot change the schema, delete rows or touch another database', async () => {
    const url = new URL(env.MYSQL_URL!);
    const connection = await mysql.createConnection({ host: url.hostname, port: Number(url.port), user, password, database: `redeem_test_${p.id}` });
    try {
      for (const statement of [
        'DROP TABLE decisions',
        'DELETE FROM redemptions',
        'ALTER TABLE coupons ADD COLUMN x INT',
        `CREATE DATABASE redeem_rt_${p.id}`,
        'SELECT * FROM mysql.user',
      ]) {
        const error = await connection.query(statement).then(
          () => null,
          (e: { code?: string }) => e,
        );
        expect(error?.code, statement).toMatch(/^ER_(TABLEACCESS_DENIED_ERROR|DBACCESS_DENIED_ERROR|ACCESS_DENIED_ERROR|COLUMNACCESS_DENIED_ERROR)$/);
      }
    } finally {
      await connection.end();
    }
    // And `migrate` without the administrator's URL fails as that user instead of half-working.
    const { MYSQL_ADMIN_URL: _admin, ...withoutAdmin } = env;
    void _admin;
    const migrate = await p.cli(['migrate'], withoutAdmin);
    expect(migrate.code).toBe(1);
    expect(migrate.stderr).toMatch(/denied/i);
  });
});
