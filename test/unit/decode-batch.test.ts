import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';

import { decodeBatch } from '../../consumers/decode.js';
import { murmur2Partition } from '../../schemas/partitioning.js';
import type { Decoder } from '../../schemas/registry.js';
import type { RedemptionRequested } from '../../schemas/types.js';

const request = (id: string, coupon: string): RedemptionRequested => ({
  request_id: id,
  coupon_code: coupon,
  user_id: 'u1',
  order_id: `o-${id}`,
  op: 'REDEEM',
  reverses_request_id: null,
  amount_cents: 100,
  currency: 'EUR',
  occurred_at: new Date('2026-11-24T00:00:00Z'),
  source: 'test',
});

/** A decoder that reads the test's own encoding (JSON with the time as millis): no registry needed. */
const decoder: Decoder<RedemptionRequested> = {
  decode: async (value) => {
    const parsed = JSON.parse(value.toString()) as RedemptionRequested & { occurred_at: number };
    return { ...parsed, occurred_at: new Date(parsed.occurred_at) };
  },
};

const message = (r: RedemptionRequested, offset: number): KafkaMessage =>
  ({
    key: Buffer.from(r.coupon_code),
    value: Buffer.from(JSON.stringify({ ...r, occurred_at: r.occurred_at.getTime() })),
    offset: String(offset),
    headers: { 'client.id': Buffer.from('crc32-checkout') },
  }) as unknown as KafkaMessage;

describe("a batch's decode step keeps the partition contract", () => {
  it('decides a request in its murmur2 partition and dead-letters one outside it as WRONG_PARTITION', async () => {
    // "abc" belongs in partition 3 of 6 (Kafka's own murmur2 vector, see partition-contract.test.ts).
    expect(murmur2Partition('abc', 6)).toBe(3);
    const here = await decodeBatch([message(request('r1', 'abc'), 0)], 't', 3, decoder, 1 << 20, 6);
    expect(here.requests.map((r) => r.request.request_id)).toEqual(['r1']);
    expect(here.deadLetters).toEqual([]);

    const elsewhere = await decodeBatch([message(request('r2', 'abc'), 7)], 't', 1, decoder, 1 << 20, 6);
    expect(elsewhere.requests).toEqual([]);
    expect(elsewhere.deadLetters.map((d) => ({ code: d.code, partition: d.partition, offset: d.message.offset }))).toEqual([
      { code: 'WRONG_PARTITION', partition: 1, offset: '7' },
    ]);
    expect(elsewhere.deadLetters[0]!.reason).toMatch(/belongs in partition 3 of 6 .* found in partition 1: .*client\.id "crc32-checkout"/);
  });

  it('checks nothing when the partition count is not known', async () => {
    const unknown = await decodeBatch([message(request('r3', 'abc'), 0)], 't', 1, decoder, 1 << 20, undefined);
    expect(unknown.requests).toHaveLength(1);
  });
});
