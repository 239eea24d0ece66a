import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { withDatabase } from '../../lib/mysql.js';
import { createMysqlUser, createRedisUser, type TestUser, uniqueSecret } from './credentials.js';
import { writeTemp } from './fixtures.js';
import { type CliResult, IsolatedPipeline } from './helpers.js';

/**
 * No command prints a secret: the pipeline runs with a MySQL user and a Redis ACL user whose password is
 * a unique string, through every everyday command (with debug logs) and through the errors that quote
 * settings, and that string is looked for in everything they write.
 */
describe('no secret is ever printed', () => {
  const p = new IsolatedPipeline();
  const secret = uniqueSecret();
  let mysqlUser: TestUser;
  let redisUser: TestUser;
  let env: Record<string, string>;
  const outputs: { args: string; result: CliResult }[] = [];

  beforeAll(async () => {
    await p.setUp();
    mysqlUser = await createMysqlUser(`rsec_${p.id}`, `redeem_test_${p.id}`, secret);
    redisUser = await createRedisUser(`rsec_${p.id}`, p.config.redisKeyPrefix, secret);
    const mysqlUrl = new URL(p.config.mysqlUrl);
    mysqlUrl.username = mysqlUser.name;
    mysqlUrl.password = secret;
    env = {
      ...p.env,
      MYSQL_URL: mysqlUrl.toString(),
      REDIS_URL: `redis://${redisUser.name}:${secret}@127.0.0.1:6379`,
      LOG_LEVEL: 'debug',
      SOME_SERVICE_PASSWORD: secret,
    };
  });
  afterAll(async () => {
    await mysqlUser?.drop();
    await redisUser?.drop();
    await p.cleanup();
  });

  const run = async (args: string[], extraEnv: Record<string, string> = {}): Promise<CliResult> => {
    const result = await p.cli(args, { ...env, ...extraEnv });
    outputs.push({ args: args.join(' '), result });
    return result;
  };

  it('everyday commands work with the secret credentials and never print them', async () => {
    const config = await run(['config']);
    expect(config.code).toBe(0);
    expect(config.stdout).toContain(`mysql://${mysqlUser.name}:***@127.0.0.1:3306/redeem_test_${p.id}`);
    expect(config.stdout).toContain(`redis://${redisUser.name}:***@127.0.0.1:6379`);
    expect((await run(['migrate'])).code).toBe(0);
    expect((await run(['coupons', 'generate', '--count', '5', '--prefix', 'SEC'])).code).toBe(0);
    expect((await run(['produce', '--generate', '300', '--coupons', '5', '--coupon-prefix', 'SEC', '--no-progress'])).code).toBe(0);
    const consume = await run(['consume', '--exit-when-idle', '3']);
    expect(consume.code, consume.stderr).toBe(0);
    // Debug logging was on, so the consumer wrote at its most talkative level (how many lines depends on how
    // the records fell into flushes: the pipelined consumer may take all 300 in one).
    const logLines = consume.stderr.split('\n').filter((line) => line.startsWith('{'));
    expect(
      logLines.some((line) => (JSON.parse(line) as { level: number }).level === 20),
      consume.stderr,
    ).toBe(true);
    expect(logLines.length).toBeGreaterThanOrEqual(3);
    const status = await run(['status']);
    expect(status.code, status.stdout).toBe(0);
    const verify = await run(['verify', '--no-progress']);
    expect(verify.stdout).toContain('EQUAL');
    expect((await run(['audit', 'stats'])).code).toBe(0);
  });

  it('errors about settings and failed logins do not print them either', async () => {
    const unparsable = await run(['config'], { MYSQL_URL: `mysql://app:${secret}@db host/x`, REDIS_URL: `redis://:${secret}@[bad` });
    expect(unparsable.code).toBe(2);
    expect(unparsable.stderr).toContain('MYSQL_URL: must be a URL');
    expect(unparsable.stderr).toContain('REDIS_URL: must be a URL');
    const noDatabase = await run(['config'], { MYSQL_URL: `mysql://app:${secret}@127.0.0.1:3306/` });
    expect(noDatabase.code).toBe(2);
    // A user that does not exist, with the secret as its password: the login fails and is reported.
    const denied = await run(['migrate'], { MYSQL_URL: withDatabase(`mysql://nobody_${p.id}:${secret}@127.0.0.1:3306/x`, `redeem_test_${p.id}`) });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('refuses the user and password of MYSQL_URL');
    const wrongRedis = await run(['status'], { REDIS_URL: `redis://nobody_${p.id}:${secret}@127.0.0.1:6379` });
    expect(wrongRedis.code).toBe(1);
    const badFile = await run(['produce', '--file', writeTemp('{oops\n', 'secret-bad.jsonl'), '--no-progress']);
    expect(badFile.code).toBe(1);
  });

  it('the secret appears in no output at all, in any spelling', () => {
    expect(outputs.length).toBeGreaterThanOrEqual(12);
    for (const { args, result } of outputs) {
      for (const form of [secret, encodeURIComponent(secret), secret.slice(3)]) {
        expect(result.stdout.includes(form), `stdout of redeem ${args}`).toBe(false);
        expect(result.stderr.includes(form), `stderr of redeem ${args}`).toBe(false);
      }
    }
  });
});
