import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { couponCodes, generateCoupons, upsertCoupons } from '../../lib/coupon-catalog.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import { auditProblems, BackgroundConsumer, committedOffsets, drained, IsolatedPipeline, verifyEqual } from './helpers.js';

const REQUESTS = 40_000;

/**
 * SIGTERM in the middle of a backlog: the member finishes the flush in hand, commits its offsets (the
 * commit really happens: KafkaJS used to drop commits once stop() had begun, see
 * patches/kafkajs+2.2.4.patch), leaves the group and exits 0, so the next member redelivers nothing.
 */
describe('SIGTERM mid-flush', () => {
  const p = new IsolatedPipeline({ FLUSH_MAX_MESSAGES: '500' });
  beforeAll(async () => {
    await p.setUp();
    const coupons = generateCoupons({
      count: 200,
      prefix: 'STOP',
      campaigns: 2,
      quota: 150,
      perUserLimit: 3,
      validFrom: new Date('2026-01-01T00:00:00Z'),
      validUntil: new Date('2027-01-01T00:00:00Z'),
    });
    await upsertCoupons(p.rt.knex(), coupons);
    await p.produce([...simulateCheckout({ ...DEFAULT_SIMULATION, count: REQUESTS, couponCodes: couponCodes('STOP', 200), users: 1000, seed: 5 })]);
  });
  afterAll(() => p.cleanup());

  it('commits the flush in hand, leaves, exits 0; the next member repeats no audit record', async () => {
    const first = new BackgroundConsumer(p.env);
    const knex = p.rt.knex();
    try {
      // The first decisions mean flushes are under way (three at a time, 500 messages each).
      const deadline = Date.now() + 60_000;
      while (Number(((await knex('decisions').count({ n: '*' })) as [{ n: number | string }])[0].n) === 0) {
        if (Date.now() > deadline) throw new Error(`no decisions after 60 s\n${first.stderr}`);
        await sleep(20);
      }
      first.child.kill('SIGTERM');
      expect(await first.exited, first.stderr).toBe(0);
    } finally {
      first.child.kill('SIGKILL');
    }
    const { groups } = await (async () => {
      const admin = p.rt.kafka().admin();
      await admin.connect();
      try {
        return await admin.describeGroups([p.config.consumerGroup]);
      } finally {
        await admin.disconnect();
      }
    })();
    expect(groups[0]!.members).toEqual([]);
    // It stopped in the middle of the backlog...
    const committed = [...(await committedOffsets(p)).values()].reduce((a, b) => a + b, 0);
    expect(committed).toBeGreaterThan(0);
    expect(committed).toBeLessThan(REQUESTS);
    // ...and everything it decided (one audit record per message) is committed: no work done but not committed.
    const firstRecords = await p.auditRecords(committed);
    expect(firstRecords.length).toBe(committed);

    const second = await p.cli(['consume', '--exit-when-idle', '1', '--max-wait', '150']);
    expect(second.code, second.stderr).toBe(0);
    expect(await drained(p)).toBe(true);
    expect(second.stdout).toMatch(/redeliveries seen 0/);
    const records = await p.auditRecords(REQUESTS);
    const seen = new Map<string, number>();
    for (const r of records) seen.set(`${r.source_partition}/${r.source_offset}`, (seen.get(`${r.source_partition}/${r.source_offset}`) ?? 0) + 1);
    const repeated = [...seen].filter(([, n]) => n > 1).map(([source]) => source);
    expect(repeated).toEqual([]);
    expect(records.length).toBe(REQUESTS);
    expect(auditProblems(records, await p.endOffsets(p.config.redemptionTopic))).toEqual([]);
    const { equal, report } = await verifyEqual(p);
    expect(equal, report).toBe(true);
  });
});
