import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { asMysqlRoot, createRedisUser, dropMysqlUser, mysqlGrants, type TestUser, uniqueSecret } from './credentials.js';
import { IsolatedPipeline } from './helpers.js';

/**
 * The pipeline runs as a MySQL user that `redeem migrate` (as the administrator) made with only the
 * rights it needs, and as a Redis ACL user with the runtime ACL of lib/redis-acl.ts (its key prefix, the
 * commands the pipeline sends), and still decides everything exactly as the reference does; the MySQL
 * user cannot change the schema or delete rows, the Redis user cannot flush, reconfigure, stop or
 * re-grant Redis, nor list or touch another prefix's keys.
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
    // The topics' subjects are the project's, BACKWARD, before anything is produced: nobody can claim them
    // with a schema the producer's would break.
    expect(result.stdout).toContain(`registry: ${p.config.redemptionTopic}-value and ${p.config.auditTopic}-value registered, compatibility BACKWARD`);
    const subject = `${p.config.redemptionTopic}-value`;
    expect(await p.rt.registry().subjectCompatibility(subject)).toBe('BACKWARD');
    const claim = await fetch(`${p.config.schemaRegistryUrl}/subjects/${subject}/versions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: JSON.stringify({ type: 'record', name: 'Claim', fields: [{ name: 'taken', type: 'string' }] }) }),
    });
    expect(claim.status).toBe(409);
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

  it('the Redis user cannot flush, reconfigure, stop or re-grant Redis, nor list or touch another prefix', async () => {
    const redis = new Redis(env.REDIS_URL!, { lazyConnect: true, maxRetriesPerRequest: 0 });
    await redis.connect();
    const own = `${p.config.redisKeyPrefix}:probe`;
    const other = `other-${p.id}:probe`;
    const refusal = (command: Promise<unknown>) =>
      command.then(
        () => 'allowed',
        (e: Error) => e.message,
      );
    const noCommand = (name: string) => `NOPERM this user has no permissions to run the '${name}' command`;
    const noKey = 'NOPERM this user has no permissions to access one of the keys used as arguments';
    try {
      expect(await refusal(redis.flushall())).toBe(noCommand('flushall'));
      expect(await refusal(redis.flushdb())).toBe(noCommand('flushdb'));
      expect(await refusal(redis.config('SET', 'maxmemory', '1'))).toBe(noCommand('config|set'));
      expect(await refusal(redis.call('SHUTDOWN', 'NOSAVE'))).toBe(noCommand('shutdown'));
      expect(await refusal(redis.call('ACL', 'SETUSER', redisUser.name, '+@all', '~*'))).toBe(noCommand('acl|setuser'));
      expect(await refusal(redis.scan('0'))).toBe(noCommand('scan'));
      expect(await refusal(redis.keys('*'))).toBe(noCommand('keys'));
      expect(await refusal(redis.get(other))).toBe(noKey);
      expect(await refusal(redis.set(other, 'x'))).toBe(noKey);
      expect(await refusal(redis.eval("return redis.call('GET', KEYS[1])", 1, other))).toBe(noKey);
      expect(await refusal(redis.eval("return redis.call('GET', 'x')", 0))).toMatch(/can't access at least one of the keys/);
      // Its own keys, with the commands the pipeline sends: allowed.
      expect(await redis.set(own, '1', 'EX', 60)).toBe('OK');
      expect(await redis.mget(own)).toEqual(['1']);
      expect(await redis.eval("return redis.call('GET', KEYS[1])", 1, own)).toBe('1');
      expect(await redis.del(own)).toBe(1);
    } finally {
      redis.disconnect();
    }
  });

  it('migrate refuses a runtime user with rights beyond its database, revokes them only when told, and keeps a TLS requirement', async () => {
    const account = `'${user}'@'127.0.0.1'`;
    const exact = await mysqlGrants(user, '127.0.0.1');
    await asMysqlRoot('GRANT SELECT ON *.* TO ?@?', [user, '127.0.0.1']);
    await asMysqlRoot(`GRANT ALL PRIVILEGES ON \`redeem_other_${p.id}\`.* TO ?@?`, [user, '127.0.0.1']);
    const widened = await mysqlGrants(user, '127.0.0.1');
    const refused = await p.cli(['migrate'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `MYSQL_URL's user ${account} holds more than SELECT, INSERT, UPDATE on its database: SELECT ON *.*; ALL PRIVILEGES ON \`redeem_other_${p.id}\`.*. Revoke them (or use another user), or run migrate --revoke-other-grants`,
    );
    expect(await mysqlGrants(user, '127.0.0.1')).toEqual(widened);
    const revoked = await p.cli(['migrate', '--revoke-other-grants'], env);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`runtime user ${account}: revoked SELECT ON *.*; ALL PRIVILEGES ON \`redeem_other_${p.id}\`.*`);
    expect(await mysqlGrants(user, '127.0.0.1')).toEqual(exact);
    // A TLS requirement stays when MYSQL_SSL_CA_FILE is not set, and goes only when told.
    await asMysqlRoot('ALTER USER ?@? REQUIRE SSL', [user, '127.0.0.1']);
    const kept = await p.cli(['migrate'], env);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toContain(`runtime user ${account}: SELECT, INSERT, UPDATE on redeem_test_${p.id}, nothing else; TLS required`);
    const created = async () => Object.values(((await asMysqlRoot('SHOW CREATE USER ?@?', [user, '127.0.0.1'])) as Record<string, string>[])[0]!)[0];
    expect(await created()).toMatch(/REQUIRE SSL/);
    const dropped = await p.cli(['migrate', '--drop-tls-requirement'], env);
    expect(dropped.code, dropped.stderr).toBe(0);
    expect(dropped.stdout).toMatch(/nothing else$/m);
    expect(await created()).not.toMatch(/REQUIRE/);
  });
});
