import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { BUILDS_DIR, removeLeftovers } from '../../bench/leftovers.js';
import { holdSettingsLock } from '../../bench/mysql-globals.js';
import { loadConfig } from '../../lib/config.js';
import { withAdmin } from '../../lib/kafka.js';
import { createDatabaseIfMissing, dropDatabase, withDatabase, withServerConnection } from '../../lib/mysql.js';
import { removeRedisKeys } from '../../lib/namespace.js';
import { Runtime } from '../../lib/runtime.js';
import { runCli } from './helpers.js';

// A bench run killed outright (SIGKILL, out of memory) leaves its namespace: a stopped one that had
// left millions of Redis keys slowed every later run. What it leaves is named after its id.
describe('what a killed bench run left behind', () => {
  const rt = new Runtime(loadConfig({}));
  afterAll(() => rt.close());
  const url = rt.config.mysqlUrl;

  const topicsOf = (prefix: string) => withAdmin(rt.kafka(), async (admin) => (await admin.listTopics()).filter((t) => t.startsWith(prefix)).sort());
  const databasesLike = (like: string) =>
    withServerConnection(url, async (c) => ((await c.query(`SHOW DATABASES LIKE '${like}'`))[0] as Record<string, string>[]).map((r) => Object.values(r)[0]));
  const keysOf = async (pattern: string) => (await (await rt.connectedRedis()).keys(pattern)).sort();
  const subjectsOf = async (prefix: string) => (await rt.registry().subjects()).filter((s) => s.startsWith(prefix)).sort();

  it('is removed only while no run is under way: its topics, databases, Redis keys and registry subjects, and a consumer build whose process is gone; a neighbour stays', async () => {
    // Held as a running bench holds it for its whole life: the CLI must refuse, and no run of another
    // file starts meanwhile (its start would remove these leftovers before this test looks).
    const lock = await holdSettingsLock(url, () => {}, 1800);
    const id = randomBytes(3).toString('hex');
    const neighbour = `benchmark-${id}`;
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
    const build = join(BUILDS_DIR, String(deadPid));
    try {
      await withAdmin(rt.kafka(), (admin) =>
        admin.createTopics({ topics: [`bench-${id}.requested`, `bench-${id}-c1.decided`, neighbour].map((topic) => ({ topic, numPartitions: 1 })) }),
      );
      await createDatabaseIfMissing(withDatabase(url, `bench_${id}_c1`));
      await createDatabaseIfMissing(withDatabase(url, `bench_${id}_peer`));
      const redis = await rt.connectedRedis();
      for (const subject of [`bench-${id}.requested-value`, `${neighbour}-value`]) await rt.registry().register(subject, '"string"');
      await redis.mset(`bench-${id}-c1:d2:5:{CODE1}r1`, '[]', `bench-${id}-c1:v:5:{CODE1}`, 't|0|1', `${neighbour}:kept`, '1');
      mkdirSync(build, { recursive: true });
      writeFileSync(join(build, 'redeem.js'), '');

      const refused = await runCli(['bench', '--remove-leftovers'], {}, 60_000);
      expect(refused.code, refused.stderr).toBe(1);
      expect(refused.stderr).toMatch(/another bench run is under way on this server/);
      expect(await topicsOf(`bench-${id}`)).toEqual([`bench-${id}-c1.decided`, `bench-${id}.requested`]);

      const said: string[] = [];
      expect(
        await removeLeftovers({ kafka: rt.kafka(), redis: rt.redis(), mysqlUrl: url, registry: rt.registry(), print: (line) => said.push(line) }),
      ).toBeGreaterThanOrEqual(1);
      expect(said).toContain(
        `removing what a bench run that did not end left: bench-${id}: 2 topics, 2 databases, 1 registry subject (bench_${id}_c1, bench_${id}_peer, bench-${id}-c1.decided, bench-${id}.requested, bench-${id}.requested-value)`,
      );
      expect(said).toContain(`removing the consumer build of a bench run that did not end: ${build}`);
      expect({
        topics: await topicsOf(`bench-${id}`),
        databases: await databasesLike(`bench\\_${id}\\_%`),
        keys: await keysOf(`bench-${id}*`),
        subjects: await subjectsOf(`bench-${id}`),
        build: existsSync(build),
      }).toEqual({ topics: [], databases: [], keys: [], subjects: [], build: false });
      expect({ topics: await topicsOf(neighbour), keys: await keysOf(`${neighbour}*`), subjects: await subjectsOf(neighbour) }).toEqual({
        topics: [neighbour],
        keys: [`${neighbour}:kept`],
        subjects: [`${neighbour}-value`],
      });
    } finally {
      await lock.release();
      await withAdmin(rt.kafka(), async (admin) => {
        const left = (await admin.listTopics()).filter((t) => t.startsWith(`bench-${id}`) || t === neighbour);
        if (left.length > 0) await admin.deleteTopics({ topics: left });
      });
      await removeRedisKeys(await rt.connectedRedis(), `bench-${id}*`);
      await removeRedisKeys(await rt.connectedRedis(), `${neighbour}*`);
      for (const run of ['c1', 'peer']) await dropDatabase(withDatabase(url, `bench_${id}_${run}`));
      for (const subject of await subjectsOf(`bench-${id}`)) await rt.registry().deleteSubject(subject);
      for (const subject of await subjectsOf(neighbour)) await rt.registry().deleteSubject(subject);
    }
  }, 120_000);
});
