import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { couponCodes } from '../../lib/coupon-catalog.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import type { RedemptionRequested } from '../../schemas/types.js';
import { verify } from '../../verify/verify.js';
import { committedOffsets, IsolatedPipeline, REDEEM, verifyEqual, waitUntil } from './helpers.js';

describe('shutdown on SIGTERM', () => {
  const p = new IsolatedPipeline();
  beforeAll(() => p.setUp());
  afterAll(() => p.cleanup());

  it('finishes and commits the flush in hand, leaves the group and exits 0; MySQL holds exactly what it committed', async () => {
    expect((await p.cli(['coupons', 'generate', '--count', '4', '--prefix', 'STOP', '--quota', '5000'])).code).toBe(0);
    const requests = [...simulateCheckout({ ...DEFAULT_SIMULATION, count: 2000, couponCodes: couponCodes('STOP', 4) })];
    await p.produce(requests);

    // An operator's transaction holds every coupon row: the consumer's first flush waits on it, in hand.
    const knex = p.rt.knex();
    const lock = await knex.transaction();
    await lock('coupons').select('code').forUpdate();
    const database = new URL(p.config.mysqlUrl).pathname.slice(1);
    const waitingFlushes = async () => {
      const [rows] = (await knex.raw(
        `SELECT COUNT(*) AS n FROM information_schema.innodb_trx t JOIN information_schema.processlist l ON l.id = t.trx_mysql_thread_id
         WHERE t.trx_state = 'LOCK WAIT' AND l.db = ?`,
        [database],
      )) as [{ n: number }[]];
      return Number(rows[0]!.n);
    };

    const child = spawn(process.execPath, [REDEEM, 'consume'], { env: { ...process.env, ...p.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await waitUntil('a flush waiting for the locked coupons', async () => (await waitingFlushes()) > 0, 60_000);
      child.kill('SIGTERM');
      await sleep(1000);
      // The flush in hand holds the process: it has not exited yet.
      expect(child.exitCode, stderr).toBeNull();
      await lock.commit();
      expect(await exited, stderr).toBe(0);
    } finally {
      if (!lock.isCompleted()) await lock.rollback();
      child.kill('SIGKILL');
    }

    const committed = await committedOffsets(p);
    const done = [...committed.values()].reduce((a, b) => a + b, 0);
    expect(done).toBeGreaterThan(0);
    expect(stdout).toContain(`decided      ${done} `);
    const admin = p.rt.kafka().admin();
    await admin.connect();
    try {
      const { groups } = await admin.describeGroups([p.config.consumerGroup]);
      expect(groups[0]!.members).toEqual([]);
    } finally {
      await admin.disconnect();
    }
    // What it committed is exactly what MySQL holds: the topic up to the committed offsets, verified.
    const atCommit = await verify({
      kafka: p.rt.kafka(),
      knex,
      decoder: p.rt.registry().decoderFor<RedemptionRequested>('requested'),
      topic: p.config.redemptionTopic,
      maxMessageBytes: p.config.maxMessageBytes,
      stops: committed,
    });
    expect(atCommit.differences).toEqual([]);
    expect(atCommit.decided).toBe(done);
    // And the rest, consumed by the next run, completes it.
    const rest = await p.cli(['consume', '--exit-when-idle', '2']);
    expect(rest.code, rest.stderr).toBe(0);
    expect(rest.stdout).toContain(`decided      ${requests.length - done} `);
    const { equal, report } = await verifyEqual(p);
    expect(equal, report).toBe(true);
  });
});
