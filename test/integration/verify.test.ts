import type { KafkaMessage } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateCoupons, upsertCoupons } from '../../lib/coupon-catalog.js';
import { createTopicsWithLeaders, withAdmin } from '../../lib/kafka.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import type { RedemptionDecided } from '../../schemas/types.js';
import { exactProducer, IsolatedPipeline } from './helpers.js';

/**
 * `redeem verify`, the oracle every exactly-once test ends with, shown failing: a pipeline's correct
 * state, then that state tampered with in each way verify exists to catch, one at a time and put back
 * after. Each tampering is exactly one difference, named, and exit status 1.
 */

const REQUESTS = 300;

describe('verify reports a tampered state as a difference and exits 1', () => {
  const p = new IsolatedPipeline();
  let audit: KafkaMessage[] = [];
  let records: RedemptionDecided[] = [];

  beforeAll(async () => {
    await p.setUp();
    const coupons = generateCoupons({
      count: 10,
      prefix: 'VERIFY',
      campaigns: 1,
      quota: 15,
      perUserLimit: 2,
      validFrom: new Date('2026-01-01T00:00:00Z'),
      validUntil: new Date('2027-01-01T00:00:00Z'),
    });
    await upsertCoupons(p.rt.knex(), coupons);
    await p.produce([...simulateCheckout({ ...DEFAULT_SIMULATION, count: REQUESTS, couponCodes: coupons.map((c) => c.code), users: 40, seed: 5 })]);
    const consumed = await p.cli(['consume', '--exit-when-idle', '2']);
    expect(consumed.code, consumed.stderr).toBe(0);
    audit = await p.readTopic(p.config.auditTopic, REQUESTS);
    const decoder = p.rt.registry().decoderFor<RedemptionDecided>('decided');
    records = await Promise.all(audit.map((m) => decoder.decode(m.value!)));
  });
  afterAll(() => p.cleanup());

  async function verify(env: Record<string, string> = {}): Promise<{ code: number | null; differences: string[]; stdout: string }> {
    const run = await p.cli(['verify', '--no-progress'], env);
    const lines = run.stdout.trim().split('\n');
    const at = lines.findIndex((l) => l.startsWith('DIFFERENT: '));
    return { code: run.code, differences: at < 0 ? [] : lines.slice(at + 1), stdout: run.stdout + run.stderr };
  }

  /** A fresh audit topic of this test holding `messages`, each in the partition it came from. */
  async function auditTopicWith(name: string, messages: { partition: number; key: Buffer | null; value: Buffer | null }[]): Promise<Record<string, string>> {
    const topic = `${p.config.auditTopic}.${name}`;
    const kafka = p.rt.kafka();
    await withAdmin(kafka, (admin) => createTopicsWithLeaders(admin, [{ topic, numPartitions: p.config.topicPartitions }]));
    const producer = exactProducer(kafka);
    await producer.connect();
    try {
      await producer.send({ topic, acks: -1, messages });
    } finally {
      await producer.disconnect();
    }
    return { AUDIT_TOPIC: topic };
  }

  const asSent = (m: KafkaMessage, partition: number) => ({ partition, key: m.key, value: m.value });
  const partitionOf = (r: RedemptionDecided) => r.source_partition;

  it('finds the untouched state equal (exit 0), the audit stream included', async () => {
    expect(records).toHaveLength(REQUESTS);
    const run = await verify();
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain(`${REQUESTS} audit records (0 repeated)`);
    expect(run.stdout).toContain('EQUAL');
  });

  it('a missing redemption', async () => {
    const knex = p.rt.knex();
    const row = await knex('redemptions').where({ status: 'REDEEMED' }).orderBy(['coupon_code', 'request_id']).first();
    await knex('redemptions').where({ coupon_code: row.coupon_code, request_id: row.request_id }).delete();
    try {
      const run = await verify();
      expect(run.code).toBe(1);
      expect(run.differences).toEqual([`redemption ${JSON.stringify([row.coupon_code, row.request_id])}: missing from MySQL (expected REDEEMED)`]);
    } finally {
      await knex('redemptions').insert(row);
    }
  });

  it('an extra redemption', async () => {
    const knex = p.rt.knex();
    const row = await knex('redemptions').orderBy(['coupon_code', 'request_id']).first();
    const forged = { ...row, request_id: 'forged-1', status: 'REDEEMED', reversed_at: null, reversed_by_request_id: null };
    await knex('redemptions').insert(forged);
    try {
      const run = await verify();
      expect(run.code).toBe(1);
      expect(run.differences).toEqual([`redemption ${JSON.stringify([row.coupon_code, 'forged-1'])}: in MySQL (REDEEMED) but no request applies it`]);
    } finally {
      await knex('redemptions').where({ coupon_code: row.coupon_code, request_id: 'forged-1' }).delete();
    }
  });

  it('a redeemed count off by one', async () => {
    const knex = p.rt.knex();
    const coupon = await knex('coupons').orderBy('code').first('code', 'redeemed_count');
    await knex('coupons').where({ code: coupon.code }).increment('redeemed_count', 1);
    try {
      const run = await verify();
      expect(run.code).toBe(1);
      expect(run.differences).toEqual([`coupon ${coupon.code}: redeemed_count is ${coupon.redeemed_count + 1}, expected ${coupon.redeemed_count}`]);
    } finally {
      await knex('coupons').where({ code: coupon.code }).update({ redeemed_count: coupon.redeemed_count });
    }
  });

  it('a wrong status', async () => {
    const knex = p.rt.knex();
    const row = await knex('redemptions').where({ status: 'REDEEMED' }).orderBy(['coupon_code', 'request_id']).first();
    const key = { coupon_code: row.coupon_code, request_id: row.request_id };
    await knex('redemptions').where(key).update({ status: 'REVERSED' });
    try {
      const run = await verify();
      expect(run.code).toBe(1);
      expect(run.differences).toEqual([`redemption ${JSON.stringify([row.coupon_code, row.request_id])}: status is REVERSED, expected REDEEMED`]);
    } finally {
      await knex('redemptions').where(key).update({ status: 'REDEEMED' });
    }
  });

  it('a missing audit record', async () => {
    const dropped = records.find((r) => r.decision === 'APPLIED')!;
    const env = await auditTopicWith(
      'missing',
      audit.flatMap((m, i) => (records[i] === dropped ? [] : [asSent(m, partitionOf(records[i]!))])),
    );
    const run = await verify(env);
    expect(run.code).toBe(1);
    const source = `${dropped.source_partition}/${dropped.source_offset}`;
    expect(run.differences).toEqual([
      `audit: message ${source} (coupon ${JSON.stringify(dropped.coupon_code)}, request ${JSON.stringify(dropped.request_id)}) has no audit record (expected APPLIED)`,
    ]);
  });

  it('a doubled audit record: a message decided a second time', async () => {
    const i = records.findIndex((r) => r.decision === 'APPLIED');
    const first = records[i]!;
    const codec = await p.rt.registry().codecFor<RedemptionDecided>('decided', p.config.auditTopic);
    const again = { ...first, decided_at: new Date(first.decided_at.getTime() + 1000), consumer_id: 'another-member' };
    const env = await auditTopicWith('doubled', [
      ...audit.map((m, j) => asSent(m, partitionOf(records[j]!))),
      { partition: partitionOf(first), key: audit[i]!.key, value: codec.encode(again) },
    ]);
    const run = await verify(env);
    expect(run.code).toBe(1);
    expect(run.differences).toEqual([
      `audit: message ${first.source_partition}/${first.source_offset} (coupon ${JSON.stringify(first.coupon_code)}, request ${JSON.stringify(first.request_id)}) has records that differ, decided more than once: APPLIED at ${first.decided_at.toISOString()} by ${first.consumer_id} and APPLIED at ${again.decided_at.toISOString()} by another-member`,
    ]);
  });

  it('a repeated audit record as a redelivery re-emits it is no difference', async () => {
    const i = records.findIndex((r) => r.decision === 'APPLIED');
    const env = await auditTopicWith('repeated', [...audit.map((m, j) => asSent(m, partitionOf(records[j]!))), asSent(audit[i]!, partitionOf(records[i]!))]);
    const run = await verify(env);
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain(`${REQUESTS + 1} audit records (1 repeated)`);
  });
});
