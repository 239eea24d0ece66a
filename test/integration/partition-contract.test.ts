import { crc32 } from 'node:zlib';
import type { ICustomPartitioner } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertCoupons } from '../../lib/coupon-catalog.js';
import { deadLetterTopic } from '../../lib/config.js';
import { murmur2Partition } from '../../consumers/partition-contract.js';
import type { RedemptionRequested } from '../../schemas/types.js';
import { T0 } from './fixtures.js';
import { IsolatedPipeline, verifyEqual } from './helpers.js';

/** librdkafka's default partitioner (`consistent_random`) for a keyed message: CRC32 of the key. */
const crc32Partitioner: ICustomPartitioner = () => ({ partitionMetadata, message }) => crc32(Buffer.from(message.key!)) % partitionMetadata.length;

const COUPONS = Array.from({ length: 12 }, (_, i) => `WP-${String(i + 1).padStart(2, '0')}`);

function redeem(id: string, coupon: string, user: string, source: string): RedemptionRequested {
  return { request_id: id, coupon_code: coupon, user_id: user, order_id: `o-${id}`, op: 'REDEEM', reverses_request_id: null, amount_cents: 500, currency: 'EUR', occurred_at: new Date(T0.getTime() + 1000), source };
}

describe('the partition contract: requests outside their murmur2 partition are dead-lettered', () => {
  const p = new IsolatedPipeline();
  beforeAll(async () => {
    await p.setUp();
    const valid = { quota: 100, per_user_limit: 5, valid_from: new Date(T0.getTime() - 86_400_000), valid_until: new Date(T0.getTime() + 86_400_000) };
    await upsertCoupons(p.rt.knex(), COUPONS.map((code) => ({ code, campaign_id: 'wp', ...valid })));
  });
  afterAll(() => p.cleanup());

  it('dead-letters a CRC32-partitioned producer\'s misplaced records as WRONG_PARTITION; the rest is decided and verify is equal', async () => {
    const partitions = p.config.topicPartitions;
    const misplaced = COUPONS.filter((c) => crc32(Buffer.from(c)) % partitions !== murmur2Partition(c, partitions));
    const placedByLuck = COUPONS.filter((c) => !misplaced.includes(c));
    // The test is only meaningful with both kinds among its coupons.
    expect(misplaced.length).toBeGreaterThan(2);
    expect(placedByLuck.length).toBeGreaterThan(0);

    const good = COUPONS.map((c, i) => redeem(`ts-${i}`, c, 'u-ts', 'ts-checkout'));
    await p.produce(good);

    const codec = await p.rt.registry().codecFor<RedemptionRequested>('requested', p.config.redemptionTopic);
    const crcRequests = COUPONS.map((c, i) => redeem(`crc-${i}`, c, 'u-crc', 'crc-checkout'));
    const producer = p.rt.kafka('crc32-checkout').producer({ createPartitioner: crc32Partitioner });
    await producer.connect();
    await producer.send({
      topic: p.config.redemptionTopic,
      acks: -1,
      messages: crcRequests.map((r) => ({ key: r.coupon_code, value: codec.encode(r), headers: { 'client.id': 'crc32-checkout' } })),
    });
    await producer.disconnect();

    const consumed = await p.cli(['consume', '--exit-when-idle', '3'], { LOG_LEVEL: 'warn' });
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stderr).toContain(`dead letters ${misplaced.length}`);
    // The warning names the code and the producer, so an operator can find the misconfigured client.
    expect(consumed.stderr).toMatch(/"code":"WRONG_PARTITION".*client\.id \\"crc32-checkout\\"/);

    const dead = await p.readTopic(deadLetterTopic(p.config.redemptionTopic), misplaced.length);
    expect(dead).toHaveLength(misplaced.length);
    expect(new Set(dead.map((m) => m.headers!['dlq.code']!.toString()))).toEqual(new Set(['WRONG_PARTITION']));
    expect(dead.map((m) => m.key!.toString()).sort()).toEqual([...misplaced].sort());
    for (const m of dead) {
      const key = m.key!.toString();
      expect(m.headers!['dlq.reason']!.toString()).toContain(`belongs in partition ${murmur2Partition(key, partitions)} of ${partitions}`);
      expect(Number(m.headers!['dlq.partition']!.toString())).toBe(crc32(Buffer.from(key)) % partitions);
    }

    const expectedDecided = good.length + placedByLuck.length;
    const audit = await p.auditRecords(expectedDecided);
    expect(audit).toHaveLength(expectedDecided);
    expect(audit.every((r) => r.decision === 'APPLIED')).toBe(true);
    expect(audit.map((r) => r.request_id).sort()).toEqual([...good.map((r) => r.request_id), ...placedByLuck.map((c) => `crc-${COUPONS.indexOf(c)}`)].sort());

    const counts = new Map(((await p.rt.knex()('coupons').select('code', 'redeemed_count')) as { code: string; redeemed_count: number }[]).map((c) => [c.code, c.redeemed_count]));
    for (const c of COUPONS) expect(counts.get(c), c).toBe(misplaced.includes(c) ? 1 : 2);

    const verified = await verifyEqual(p);
    expect(verified.equal, verified.report).toBe(true);
    expect(verified.report).toContain(`${misplaced.length} dead-letterable`);
  });
});
