import { crc32 } from 'node:zlib';

import type { ICustomPartitioner } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { deadLetterTopic } from '../../lib/config.js';
import { upsertCoupons } from '../../lib/coupon-catalog.js';
import { murmur2Partition } from '../../schemas/partitioning.js';
import type { RedemptionRequested } from '../../schemas/types.js';
import { T0 } from './fixtures.js';
import { IsolatedPipeline, verifyEqual } from './helpers.js';

/** librdkafka's default partitioner (`consistent_random`) for a keyed message: CRC32 of the key. */
const crc32Partitioner: ICustomPartitioner =
  () =>
  ({ partitionMetadata, message }) =>
    crc32(Buffer.from(message.key!)) % partitionMetadata.length;

const COUPONS = Array.from({ length: 12 }, (_, i) => `WP-${String(i + 1).padStart(2, '0')}`);

function redeem(id: string, coupon: string, user: string, source: string): RedemptionRequested {
  return {
    request_id: id,
    coupon_code: coupon,
    user_id: user,
    order_id: `o-${id}`,
    op: 'REDEEM',
    reverses_request_id: null,
    amount_cents: 500,
    currency: 'EUR',
    occurred_at: new Date(T0.getTime() + 1000),
    source,
  };
}

describe('the partition contract: requests outside their murmur2 partition are dead-lettered', () => {
  const p = new IsolatedPipeline();
  beforeAll(async () => {
    await p.setUp();
    const valid = { quota: 100, per_user_limit: 5, valid_from: new Date(T0.getTime() - 86_400_000), valid_until: new Date(T0.getTime() + 86_400_000) };
    await upsertCoupons(
      p.rt.knex(),
      COUPONS.map((code) => ({ code, campaign_id: 'wp', ...valid })),
    );
  });
  afterAll(() => p.cleanup());

  it("dead-letters a CRC32-partitioned producer's misplaced records as WRONG_PARTITION; the rest is decided and verify is equal", async () => {
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

    const consumed = await p.cli(['consume', '--exit-when-idle', '1'], { LOG_LEVEL: 'warn' });
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stdout).toContain(`dead letters ${misplaced.length}`);
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

    const counts = new Map(
      ((await p.rt.knex()('coupons').select('code', 'redeemed_count')) as { code: string; redeemed_count: number }[]).map((c) => [c.code, c.redeemed_count]),
    );
    for (const c of COUPONS) expect(counts.get(c), c).toBe(misplaced.includes(c) ? 1 : 2);

    const verified = await verifyEqual(p);
    expect(verified.equal, verified.report).toBe(true);
    expect(verified.report).toContain(`${misplaced.length} dead-letterable`);
  });

  it('`redeem dlq redrive` sends the misplaced requests again, once, in their order (a truncated dead letter from its original); verify equal', async () => {
    const partitions = p.config.topicPartitions;
    const requestsTopic = p.config.redemptionTopic;
    const dlqTopic = deadLetterTopic(requestsTopic);
    // A quota-1 coupon the CRC32 producer misplaces: redeem, refund, redeem by another user only all
    // apply in that order.
    const ordered = Array.from({ length: 50 }, (_, i) => `ORD-${i}`).find((c) => crc32(Buffer.from(c)) % partitions !== murmur2Partition(c, partitions))!;
    await upsertCoupons(p.rt.knex(), [
      {
        code: ordered,
        campaign_id: 'wp',
        quota: 1,
        per_user_limit: 1,
        valid_from: new Date(T0.getTime() - 86_400_000),
        valid_until: new Date(T0.getTime() + 86_400_000),
      },
    ]);
    const sequence: RedemptionRequested[] = [
      redeem('ord-1', ordered, 'a', 'crc-checkout'),
      { ...redeem('ord-2', ordered, 'a', 'crc-checkout'), op: 'REVERSE', reverses_request_id: 'ord-1' },
      redeem('ord-3', ordered, 'b', 'crc-checkout'),
    ];
    const codec = await p.rt.registry().codecFor<RedemptionRequested>('requested', requestsTopic);
    const producer = p.rt.kafka('crc32-checkout').producer({ createPartitioner: crc32Partitioner });
    await producer.connect();
    await producer.send({
      topic: requestsTopic,
      acks: -1,
      messages: sequence.map((r) => ({ key: r.coupon_code, value: codec.encode(r), headers: { 'client.id': 'crc32-checkout' } })),
    });
    // One more misplaced request whose dead letter holds only a truncated copy (as a too-large value's
    // would): written to the dead-letter topic ahead of the consumer's own copy of it.
    const big = redeem('trunc-1', 'WP-01', 'u-trunc', 'crc-checkout');
    const wrong = (murmur2Partition('WP-01', partitions) + 1) % partitions;
    const [sent] = await producer.send({ topic: requestsTopic, acks: -1, messages: [{ key: big.coupon_code, value: codec.encode(big), partition: wrong }] });
    const original = codec.encode(big);
    await producer.send({
      topic: dlqTopic,
      acks: -1,
      messages: [
        {
          key: big.coupon_code,
          value: original.subarray(0, 12),
          headers: {
            'dlq.code': 'WRONG_PARTITION',
            'dlq.reason': 'test',
            'dlq.topic': requestsTopic,
            'dlq.partition': String(wrong),
            'dlq.offset': sent!.baseOffset!,
            'dlq.consumer': 'test',
            'dlq.truncated': 'true',
            'dlq.original-bytes': String(original.length),
          },
        },
      ],
    });
    await producer.disconnect();
    const consumed = await p.cli(['consume', '--exit-when-idle', '1']);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stdout).toContain('dead letters 4');

    const deadBefore = await p.endOffsets(dlqTopic);
    const requestsBefore = await p.endOffsets(requestsTopic);
    // Every dead letter of this file is a valid request in the wrong partition, one per origin.
    const toRedrive = COUPONS.filter((c) => crc32(Buffer.from(c)) % partitions !== murmur2Partition(c, partitions)).length + sequence.length + 1;

    const dry = await p.cli(['dlq', 'redrive', '--code', 'WRONG_PARTITION', '--dry-run', '--no-progress']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`would redrive ${toRedrive} (WRONG_PARTITION ${toRedrive})`);
    expect(dry.stdout).toContain('repeated dead letters 1');
    expect(await p.endOffsets(requestsTopic)).toEqual(requestsBefore);

    const run = await p.cli(['dlq', 'redrive', '--code', 'WRONG_PARTITION', '--no-progress']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`redriven ${toRedrive} (WRONG_PARTITION ${toRedrive})`);
    const sentCount = [...(await p.endOffsets(requestsTopic))].reduce((n, [partition, end]) => n + end - requestsBefore.get(partition)!, 0);
    expect(sentCount).toBe(toRedrive);
    const requestsAfter = await p.endOffsets(requestsTopic);

    const later = await p.cli(['dlq', 'redrive', '--since', '2099-01-01T00:00:00Z', '--no-progress']);
    expect(later.stdout).toContain('selected 0');
    const again = await p.cli(['dlq', 'redrive', '--no-progress']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('redriven 0');
    expect(again.stdout).toContain(`already redriven ${toRedrive}`);
    expect(await p.endOffsets(requestsTopic)).toEqual(requestsAfter);

    const decided = await p.cli(['consume', '--exit-when-idle', '1']);
    expect(decided.code, decided.stderr).toBe(0);
    expect(decided.stdout).toContain(`decided      ${toRedrive}`);
    expect(decided.stdout).toContain('dead letters 0');
    expect(await p.endOffsets(dlqTopic)).toEqual(deadBefore);

    const audit = await p.auditRecords(COUPONS.length * 2 + 3 + 1);
    const once = (id: string) => audit.filter((r) => r.request_id === id && r.decision !== 'DUPLICATE');
    for (const id of [...COUPONS.map((_, i) => `crc-${i}`), 'ord-1', 'ord-2', 'ord-3', 'trunc-1']) expect(once(id), id).toHaveLength(1);
    expect(['ord-1', 'ord-2', 'ord-3'].map((id) => `${id}:${once(id)[0]!.decision}`)).toEqual(['ord-1:APPLIED', 'ord-2:APPLIED', 'ord-3:APPLIED']);
    const counts = new Map(
      ((await p.rt.knex()('coupons').select('code', 'redeemed_count')) as { code: string; redeemed_count: number }[]).map((c) => [c.code, c.redeemed_count]),
    );
    for (const c of COUPONS) expect(counts.get(c), c).toBe(c === 'WP-01' ? 3 : 2);
    expect(counts.get(ordered)).toBe(1);

    const verified = await verifyEqual(p);
    expect(verified.equal, verified.report).toBe(true);
  });
});
