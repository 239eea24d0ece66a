import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { IsolatedPipeline } from './helpers.js';

/** `redeem status` tells "answers" from "lets this configuration in"; database names are taken as given or refused. */
describe('status and database names', () => {
  const p = new IsolatedPipeline();
  beforeAll(() => p.setUp());
  afterAll(() => p.cleanup());

  const mysqlUrlAs = (user: string, password: string) => {
    const url = new URL(p.config.mysqlUrl);
    url.username = user;
    url.password = password;
    return url.toString();
  };

  it('says every service is up and usable with good settings', async () => {
    const result = await p.cli(['status']);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    for (const service of ['kafka', 'registry', 'redis', 'mysql'])
      expect(result.stdout).toMatch(new RegExp(`^  ${service}\\s+\\S+\\s+up: answers, logged in and usable$`, 'm'));
  });

  it('says MySQL answers but is not usable when the password is wrong, and fails', async () => {
    const result = await p.cli(['status'], { MYSQL_URL: mysqlUrlAs('root', 'certainly-wrong') });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^ {2}mysql\s+127\.0\.0\.1:3306\/redeem_test_\w+\s+NOT USABLE: answers, but Access denied for user 'root'/m);
    expect(result.stdout).not.toMatch(/mysql\s+\S+\s+up/);
  });

  it('says the same of Redis with an unknown user, of a missing database, and DOWN for nothing listening', async () => {
    const result = await p.cli(['status'], {
      REDIS_URL: `redis://nobody_${p.id}:pw@127.0.0.1:6379`,
      MYSQL_URL: `mysql://root@127.0.0.1:3306/redeem_missing_${p.id}`,
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^ {2}redis\s+127\.0\.0\.1:6379\s+NOT USABLE: answers, but WRONGPASS/m);
    expect(result.stdout).toMatch(/^ {2}mysql\s+\S+\s+NOT USABLE: answers, but Unknown database 'redeem_missing_\w+'/m);
    const down = await p.cli(['status'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/^ {2}redis\s+127\.0\.0\.1:1\s+DOWN: does not answer/m);
  });

  it('says the lag is unknown, and why, for a topic it cannot read, rather than a total of 0', async () => {
    // Nothing creates it: the stack's broker does not create topics on first use.
    const missing = `missing-${p.id}`;
    const result = await p.cli(['status'], { REDEMPTION_TOPIC: missing });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^lag on ${missing}: unknown \\(.+\\)$`, 'm'));
    expect(result.stdout).not.toMatch(/total lag/);
    expect(result.stdout).toMatch(/^last flush: /m);
  });

  it('diff and rebuild refuse names that a URL would turn into another database', async () => {
    const live = `redeem_test_${p.id}`;
    for (const name of [`../${live}`, `./${live}`, `${live}/x`, '..', '%2e%2e', '']) {
      const diff = await p.cli(['diff', name]);
      expect(diff.code, `diff ${name}`).toBe(1);
      expect(diff.stderr).toContain(`diff: the first "${name}" is not a database name`);
      expect(diff.stdout).not.toContain('no differences');
    }
    const second = await p.cli(['diff', live, `../${live}`]);
    expect(second.stderr).toContain(`diff: the second "../${live}" is not a database name`);
    const itself = await p.cli(['diff', live]);
    expect(itself.code).toBe(1);
    expect(itself.stderr).toContain(`diff: both sides are ${live}`);
    const rebuild = await p.cli(['rebuild', '--into', `../${live}_x`, '--no-progress']);
    expect(rebuild.code).toBe(1);
    expect(rebuild.stderr).toContain(`--into "../${live}_x" is not a database name`);
  });
});
