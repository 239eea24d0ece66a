import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { checkpointPath } from '../../cli/commands/produce.js';
import { couponCodes } from '../../lib/coupon-catalog.js';
import { withAdmin } from '../../lib/kafka.js';
import { databaseTables } from '../../lib/mysql.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import type { RedemptionRequested } from '../../schemas/types.js';
import { verify, VerifyStopped } from '../../verify/verify.js';
import { writeJsonLines } from './fixtures.js';
import { type CliResult, freePort, IsolatedPipeline, runCli, waitUntil } from './helpers.js';

const BIN = fileURLToPath(new URL('../../bin/redeem.mjs', import.meta.url));

/** A failure's whole stderr: one `redeem:` line, no stack trace, no log lines. */
function oneLine(result: CliResult): string {
  const lines = result.stderr.trim().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^redeem: /);
  return lines[0]!;
}

/** `redeem ...` in the background, interrupted with SIGINT once `ready` holds. */
async function interrupted(env: Record<string, string>, args: string[], ready: () => Promise<boolean>): Promise<CliResult & { ms: number }> {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  await waitUntil('part of the requests to be acknowledged', ready, 60_000);
  const at = Date.now();
  child.kill('SIGINT');
  const code = await closed;
  return { code, stdout, stderr, ms: Date.now() - at };
}

describe('the command line: one line per failure, Ctrl-C that says where it stopped, help as a person writes it', () => {
  const p = new IsolatedPipeline();
  beforeAll(() => p.setUp());
  afterAll(() => p.cleanup());
  const onTopic = async () => [...(await p.endOffsets(p.config.redemptionTopic)).values()].reduce((a, b) => a + b, 0);

  it('Kafka down: produce fails at once, in one line naming the brokers and the setting', async () => {
    const port = await freePort();
    const started = Date.now();
    const result = await p.cli(['produce', '--generate', '10', '--no-progress'], { KAFKA_BROKERS: `127.0.0.1:${port}` });
    expect(result.code).toBe(1);
    expect(oneLine(result)).toBe(
      `redeem: Kafka does not answer at 127.0.0.1:${port}; start it (npm run redeem -- stack up for the local one) or point KAFKA_BROKERS at one that runs`,
    );
    // Before: 25 s of KafkaJS retries logged as JSON, then a stack trace.
    expect(Date.now() - started).toBeLessThan(10_000);
    const verbose = await p.cli(['produce', '--generate', '10', '--verbose'], { KAFKA_BROKERS: `127.0.0.1:${port}` });
    expect(verbose.stderr).toMatch(/\n\s+at /);
  });

  it('a busy METRICS_PORT: one line naming the setting and the fix', async () => {
    const server: Server = createServer();
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
    try {
      const result = await p.cli(['consume', '--exit-when-idle', '1'], { METRICS_PORT: String(port) });
      expect(result.code).toBe(1);
      expect(oneLine(result)).toBe(`redeem: METRICS_PORT: port ${port} is already in use (set another, or 0 for any free port)`);
    } finally {
      server.close();
    }
  });

  it('diff with a database that does not exist names that database, not the one in MYSQL_URL', async () => {
    const result = await p.cli(['diff', `no_such_db_${p.id}`]);
    expect(result.code).toBe(1);
    expect(oneLine(result)).toBe(
      `redeem: diff: there is no database no_such_db_${p.id} on the MySQL server of MYSQL_URL; name one that exists (\`rebuild --into no_such_db_${p.id}\` makes one from the topic)`,
    );
  });

  it('Ctrl-C during produce --file says the line it stopped at; --resume sends the rest, its progress counting the whole file', async () => {
    const requests = [...simulateCheckout({ ...DEFAULT_SIMULATION, count: 3000, couponCodes: couponCodes('INT', 20), seed: 11 })];
    const file = writeJsonLines(requests, 'interrupted');
    const before = await onTopic();
    const acknowledged = () => {
      try {
        return Number(readFileSync(checkpointPath(file), 'utf8'));
      } catch {
        return 0;
      }
    };
    const stopped = await interrupted(p.env, ['produce', '--file', file, '--rate', '1000', '--no-progress'], async () => acknowledged() > 200);
    expect(stopped.code, stopped.stderr).toBe(130);
    const line = acknowledged();
    expect(line).toBeLessThan(3000);
    expect(stopped.stderr).toContain(
      `redeem: interrupted: stopped at line ${line} of ${file}, the last one the broker acknowledged (${line} request(s) sent by this run); rerun with --resume to send the rest`,
    );
    expect(stopped.ms).toBeLessThan(5000);
    // Stopped after the batch in flight: exactly what the checkpoint says was sent.
    expect((await onTopic()) - before).toBe(line);

    const resumed = await p.cli(['produce', '--file', file, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain(`produced ${3000 - line} requests`);
    expect(resumed.stderr).toMatch(/produce \[#+\] 3,000\/3,000 100%/);
    expect((await onTopic()) - before).toBe(3000);
  });

  it('Ctrl-C during produce --generate says how many were sent', async () => {
    const before = await onTopic();
    const stopped = await interrupted(
      p.env,
      ['produce', '--generate', '100000', '--rate', '2000', '--no-progress'],
      async () => (await onTopic()) - before > 200,
    );
    expect(stopped.code, stopped.stderr).toBe(130);
    const sent = Number(/redeem: interrupted: (\d+) of the 100000 requests sent to test-\w+\.requested \(acknowledged\)/.exec(stopped.stderr)?.[1]);
    expect(sent).toBe((await onTopic()) - before);
  });

  it('help shows defaults as a person writes them', async () => {
    expect((await runCli(['audit', 'stats', '--help'], {})).stdout).toContain('(default: 1h)');
    const chaos = (await runCli(['chaos', '--help'], {})).stdout;
    expect(chaos).toContain('(default: 5m)');
    expect(chaos).toContain('(default: 15s)');
    // Help wraps at 80 columns without a terminal.
    const bench = (await runCli(['bench', '--help'], {})).stdout.replace(/\s+/g, ' ');
    expect(bench).toContain('(default: 0.1,0.25,0.5,0.75)');
    expect(bench).toContain('(default: FETCH_MAX_WAIT_MS=10)');
    // dlq redrive --since takes what audit's --since takes, and its help says so.
    const redrive = (await runCli(['dlq', 'redrive', '--help'], {})).stdout.replace(/\s+/g, ' ');
    expect(redrive).toContain('since then: 2026-12-04, yesterday, today (UTC days), 90s, 30m, 1h, 2d ago, or an ISO-8601 time');
  });
});

// The namespace of the Ctrl-C replay and verify tests, kept to the end of the file: `redeem cleanup`
// below needs another namespace holding data (topics, a group, a database, Redis keys, subjects) that
// it must leave alone, and this is one, so no third pipeline is set up and consumed for it.
const stopped = new IsolatedPipeline();
afterAll(() => stopped.cleanup());

describe('Ctrl-C during a replay and during verify', () => {
  const p = stopped;
  const REQUESTS = 2000;
  beforeAll(async () => {
    await p.setUp();
    await p.produce([...simulateCheckout({ ...DEFAULT_SIMULATION, count: REQUESTS, couponCodes: couponCodes('STOP', 20), seed: 5 })]);
    // Decided by the live group first: a real replay does not run ahead of it.
    expect((await p.cli(['consume', '--exit-when-idle', '1'])).code).toBe(0);
  });
  const audited = async () => [...(await p.endOffsets(p.config.auditTopic)).values()].reduce((a, b) => a + b, 0);

  it('a paced replay finishes the batch in flight, then says how many it decided and how to finish', async () => {
    const before = await audited();
    // Small fetches, so that the pacing spreads the replay over batches (one fetch would hold all 2000).
    const env = { ...p.env, FETCH_MAX_BYTES_PER_PARTITION: '1024' };
    const stopped = await interrupted(env, ['replay', '--rate', '200', '--no-progress'], async () => (await audited()) - before > 0);
    expect(stopped.code, stopped.stderr).toBe(130);
    expect(stopped.stderr).toContain('redeem: stopping after the batch in flight (Ctrl-C again to quit at once)');
    const decided = Number(
      /redeem: interrupted: the replay decided (\d+) of 2000 messages, committed; run it again to finish \(what is decided already stays unchanged\)/.exec(
        stopped.stderr,
      )?.[1],
    );
    expect(decided, stopped.stderr).toBeGreaterThan(0);
    expect(decided).toBeLessThan(REQUESTS);
    // The batch in flight was finished, not cut short: each message it reports decided re-emitted its audit record.
    expect((await audited()) - before).toBe(decided);
    expect(stopped.ms).toBeLessThan(15_000);
  });

  it('verify stopped while reading compares nothing and says so', async () => {
    const decoder = p.rt.registry().decoderFor<RedemptionRequested>('requested');
    const stop = verify({
      kafka: p.rt.kafka(),
      knex: p.rt.knex(),
      decoder,
      topic: p.config.redemptionTopic,
      maxMessageBytes: p.config.maxMessageBytes,
      abandon: Promise.resolve(),
    });
    const error = await stop.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(VerifyStopped);
    expect((error as VerifyStopped).total).toBe(REQUESTS);
    expect((error as VerifyStopped).message).toMatch(new RegExp(`^verify read \\d+ of the 2000 messages of ${p.config.redemptionTopic} and compared nothing$`));
  });
});

describe('redeem cleanup', () => {
  const a = new IsolatedPipeline();
  // Another namespace with data of every kind: the one above, consumed in its beforeAll.
  const b = stopped;
  beforeAll(async () => {
    await a.setUp();
    await a.produce([...simulateCheckout({ ...DEFAULT_SIMULATION, count: 30, couponCodes: couponCodes('CLN', 3), seed: 3 })]);
    expect((await a.cli(['consume', '--exit-when-idle', '1'])).code).toBe(0);
    // Each makes a consumer group of its own, and deletes it when done.
    expect((await a.cli(['replay', '--no-progress'])).code).toBe(0);
    expect((await a.cli(['audit', 'stats', '--since', '1h'])).code).toBe(0);
  });
  afterAll(() => a.cleanup());

  /** What of a namespace exists: its topics, groups, database, Redis keys and registry subjects. */
  async function left(p: IsolatedPipeline) {
    const ours = (name: string) => name.startsWith(`test-${p.id}`);
    const { topics, groups } = await withAdmin(p.rt.kafka(), async (admin) => ({
      topics: (await admin.listTopics()).filter(ours),
      groups: (await admin.listGroups()).groups.map((g) => g.groupId).filter(ours),
    }));
    const subjects = ((await (await fetch(`${p.config.schemaRegistryUrl}/subjects`)).json()) as string[]).filter(ours);
    const keys = (await (await p.rt.connectedRedis()).keys(`${p.config.redisKeyPrefix}:*`)).length;
    return { topics: topics.length, groups: groups.length, database: (await databaseTables(p.config.mysqlUrl)) !== null, keys, subjects: subjects.length };
  }

  it('without a terminal and without --yes it lists what it would remove and removes nothing; replay and audit left no group', async () => {
    const before = await left(a);
    expect(before).toEqual({ topics: 3, groups: 1, database: true, keys: expect.any(Number), subjects: 2 });
    expect(before.keys).toBeGreaterThan(0);
    const refused = await a.cli(['cleanup']);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toContain(`consumer groups  ${a.config.consumerGroup}`);
    expect(oneLine(refused)).toBe(
      'redeem: cleanup: nothing removed: standard input is not a terminal, so nobody can confirm; rerun with --yes to remove the above',
    );
    expect(await left(a)).toEqual(before);
  });

  it("removes everything of its namespace and nothing of another's", async () => {
    const other = await left(b);
    // It holds data of every kind, so that removing any of it would show.
    expect(other).toMatchObject({ topics: 3, database: true, subjects: 2 });
    expect(other.groups * other.keys).toBeGreaterThan(0);
    const removed = await a.cli(['cleanup', '--yes']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain(`removed database redeem_test_${a.id}`);
    expect(await left(a)).toEqual({ topics: 0, groups: 0, database: false, keys: 0, subjects: 0 });
    expect(await left(b)).toEqual(other);
    expect((await a.cli(['cleanup'])).stdout).toContain('nothing to remove');
  });
});
