import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { couponCodes } from '../../lib/coupon-catalog.js';
import { databaseIdentity } from '../../lib/database-identity.js';
import { createKnex, dropDatabase, migrateToLatest, withDatabase } from '../../lib/mysql.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import { IsolatedPipeline, verifyEqual } from './helpers.js';

/**
 * The Redis cache says "already decided, here is the decision" and MySQL is then not asked. Keyed by
 * REDIS_KEY_PREFIX alone, a cache filled for one database was trusted for another one (a different or
 * restored database under the same prefix): its requests were re-emitted as decided and never applied.
 */
describe('a cache that cannot lie', () => {
  const p = new IsolatedPipeline();
  const otherDb = withDatabase(p.config.mysqlUrl, `redeem_test_${p.id}_other`);
  const copyDb = withDatabase(p.config.mysqlUrl, `redeem_test_${p.id}_copy`);
  beforeAll(async () => {
    await p.setUp();
    expect((await p.cli(['coupons', 'generate', '--count', '20', '--prefix', 'ID', '--quota', '40'])).code).toBe(0);
    await p.produce([...simulateCheckout({ ...DEFAULT_SIMULATION, count: 2000, couponCodes: couponCodes('ID', 20), seed: 9 })]);
    const first = await p.cli(['consume', '--exit-when-idle', '1', '--max-wait', '120']);
    expect(first.code, first.stderr).toBe(0);
  });
  afterAll(async () => {
    await dropDatabase(otherDb);
    await dropDatabase(copyDb);
    await p.cleanup();
  });

  it('another database under the same REDIS_KEY_PREFIX decides everything itself', async () => {
    // Same prefix, same topic, another database and group: the first database's cache must not answer.
    const env = { MYSQL_URL: otherDb, CONSUMER_GROUP: `${p.config.consumerGroup}-other`, AUDIT_TOPIC: `${p.config.auditTopic}.other` };
    expect((await p.cli(['migrate'], env)).code).toBe(0);
    expect((await p.cli(['coupons', 'generate', '--count', '20', '--prefix', 'ID', '--quota', '40'], env)).code).toBe(0);
    const run = await p.cli(['consume', '--exit-when-idle', '1', '--max-wait', '120'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/unchanged\s+0 /);
    const verified = await p.cli(['verify', '--no-progress'], env);
    expect(verified.stdout, verified.stderr).toContain('EQUAL');
    expect((await verifyEqual(p)).equal).toBe(true);
  });

  it('each database has its own identity, and a copy of one (tables and identity row copied) is told apart', async () => {
    await migrateToLatest(copyDb);
    const source = p.rt.knex();
    const copy = createKnex(copyDb);
    try {
      const original = await databaseIdentity(source);
      expect(original).toMatch(/^[0-9a-f]{16}$/);
      expect(await databaseIdentity(source)).toBe(original);
      expect(await databaseIdentity(copy)).not.toBe(original);
      // A restore: the copy gets the original's tables, identity row included, recreated.
      await copy.raw('DROP TABLE pipeline_identity');
      await copy.raw(`CREATE TABLE pipeline_identity AS SELECT * FROM \`redeem_test_${p.id}\`.pipeline_identity`);
      expect((await copy('pipeline_identity').first('database_id')).database_id).toBe((await source('pipeline_identity').first('database_id')).database_id);
      expect(await databaseIdentity(copy)).not.toBe(original);
    } finally {
      await copy.destroy();
    }
  });
});
