import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import type { PartialBenchResult } from '../../bench/run.js';
import { loadConfig } from '../../lib/config.js';
import { withAdmin } from '../../lib/kafka.js';
import { createDatabaseIfMissing, withDatabase, withServerConnection } from '../../lib/mysql.js';
import { removeRedisKeys } from '../../lib/namespace.js';
import { Runtime } from '../../lib/runtime.js';
import { REDEEM, runCli, waitUntil } from './helpers.js';

/** The pids of the processes whose environment names `group` as their consumer group prefix. */
function processesOfGroup(groupPrefix: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (
        readFileSync(`/proc/${pid}/environ`, 'latin1')
          .split('\0')
          .some((v) => v.startsWith(`CONSUMER_GROUP=${groupPrefix}`))
      )
        pids.push(Number(pid));
    } catch {
      // gone meanwhile, or not readable: not one of the run's
    }
  }
  return pids;
}

describe('the benchmark, one stage at a time', () => {
  const rt = new Runtime(loadConfig({}));
  afterAll(() => rt.close());
  const redisKeys = async (pattern: string) => (await (await rt.connectedRedis()).keys(pattern)).length;

  // A stage runs alone with what it needs: latency takes the 1-process drain (its capacity) and the
  // flush cycle (its yardstick), and reports them; nothing else runs. It asserts no speed.
  it("bench --smoke --only latency runs the latency series and its prerequisites, having removed a killed run's leftovers, and --compare reads the file", async () => {
    // What a killed run leaves, named as a run names its things (bench/stages/context.ts).
    const killed = randomBytes(3).toString('hex');
    await withAdmin(rt.kafka(), (admin) => admin.createTopics({ topics: [{ topic: `bench-${killed}.requested`, numPartitions: 1 }] }));
    await createDatabaseIfMissing(withDatabase(rt.config.mysqlUrl, `bench_${killed}_c1`));
    const out = mkdtempSync(join(tmpdir(), 'bench-stages-'));
    const result = await runCli(['bench', '--smoke', '--only', 'latency', '--out', out], {}, 240_000);
    expect(result.code, result.stderr).toBe(0);
    expect({
      topics: await withAdmin(rt.kafka(), async (admin) => (await admin.listTopics()).filter((t) => t.startsWith(`bench-${killed}`))),
      databases: await withServerConnection(rt.config.mysqlUrl, async (c) => (await c.query(`SHOW DATABASES LIKE 'bench\\_${killed}\\_%'`))[0] as unknown[]),
    }).toEqual({ topics: [], databases: [] });
    expect(result.stdout).toMatch(/every run correct\s+yes/);
    expect(result.stdout).not.toMatch(/naive|raw kafka|recovery/);
    const json = readdirSync(out).find((f) => f.endsWith('.json'))!;
    const r = JSON.parse(readFileSync(join(out, json), 'utf8')) as PartialBenchResult;
    expect(r.stages).toEqual(['latency']);
    expect(r.drain?.map((d) => d.processes)).toEqual([1]);
    expect(r.cycle?.samples).toBeGreaterThan(0);
    expect(r.latency?.map((l) => l.fractionOfCapacity)).toEqual([0.5]);
    expect(r).not.toHaveProperty('naive');
    expect(r).not.toHaveProperty('recovery');
    expect(r.correct).toBe(true);
    // Its end removed its namespace, the registry subjects its producers and consumers registered too.
    const id = /namespace: bench-(\w+) /.exec(result.stderr)?.[1];
    expect(id).toMatch(/^[0-9a-f]{6}$/);
    expect((await rt.registry().subjects()).filter((subject) => subject.startsWith(`bench-${id}`))).toEqual([]);
    const compared = await runCli(['bench', '--compare', join(out, json), join(out, json)], {}, 60_000);
    expect(compared.code, compared.stderr).toBe(0);
    expect(compared.stdout).toMatch(/^0 of \d+ figures changed by more than 10%$/m);
  }, 260_000);

  // A stopped run left its consumers deciding and millions of Redis keys behind, which slowed every
  // later run (a fresh-clone suite 561 s against 325).
  it('a run stopped with SIGTERM kills its consumers and removes its topics, Redis keys and databases', async () => {
    const out = mkdtempSync(join(tmpdir(), 'bench-stopped-'));
    const child = spawn(process.execPath, [REDEEM, 'bench', '--smoke', '--only', 'drain', '--out', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stdout.resume();
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    let id = '';
    try {
      await waitUntil(
        "the run's consumers to decide",
        async () => {
          id = /namespace: bench-(\w+) /.exec(stderr)?.[1] ?? '';
          return id !== '' && processesOfGroup(`bench-${id}-`).length > 0 && (await redisKeys(`bench-${id}-*`)) > 0;
        },
        180_000,
      );
      child.kill('SIGTERM');
      expect(await closed, stderr).toBe(143);
    } finally {
      child.kill('SIGKILL');
    }
    expect(stderr).toMatch(/stopped [1-9]\d* process\(es\) of the run/);
    expect(processesOfGroup(`bench-${id}-`)).toEqual([]);
    const topics = await withAdmin(rt.kafka(), async (admin) => (await admin.listTopics()).filter((t) => t.startsWith(`bench-${id}`)));
    const databases = await withServerConnection(rt.config.mysqlUrl, async (c) => (await c.query(`SHOW DATABASES LIKE 'bench\\_${id}\\_%'`))[0] as unknown[]);
    const keys = await redisKeys(`bench-${id}*`);
    const subjects = (await rt.registry().subjects()).filter((subject) => subject.startsWith(`bench-${id}`));
    // Whatever the assertions say, the next run does not inherit this one's leftovers.
    await removeRedisKeys(await rt.connectedRedis(), `bench-${id}*`);
    expect({ topics, databases, keys, subjects }).toEqual({ topics: [], databases: [], keys: 0, subjects: [] });
  }, 300_000);
});
