import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';

import { assertPlacement, misplacement, producerClientId } from '../../consumers/partition-contract.js';
import { UnprocessableMessageError } from '../../lib/errors.js';
import { CachedMurmur2Partitioner, murmur2Partition } from '../../schemas/partitioning.js';

/**
 * Kafka's own murmur2 test vectors (org.apache.kafka.common.utils.UtilsTest.testMurmur2): the signed
 * 32-bit hash the Java client computes. The Java default partitioner puts a key in
 * `(hash & 0x7fffffff) % numPartitions`.
 */
const JAVA_MURMUR2: [string, number][] = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
];

const javaPartition = (hash: number, count: number) => (hash & 0x7fffffff) % count;

describe('the partition contract (murmur2, as Java and KafkaJS)', () => {
  it('puts Kafka UtilsTest keys where the Java client puts them, for every partition count up to 64 and some large ones', () => {
    for (const [key, hash] of JAVA_MURMUR2) {
      for (const count of [...Array.from({ length: 64 }, (_, i) => i + 1), 97, 1000, 4093]) {
        expect(murmur2Partition(key, count), `${key} over ${count}`).toBe(javaPartition(hash, count));
      }
    }
  });

  it('a few of them spelled out: "foobar" over 50 partitions is 16, "abc" over 6 is 3', () => {
    // -790332482 & 0x7fffffff = 1357151166; 1357151166 % 50 = 16. 479470107 % 6 = 3.
    expect(murmur2Partition('foobar', 50)).toBe(16);
    expect(murmur2Partition(Buffer.from('abc'), 6)).toBe(3);
  });

  it("agrees with the partition KafkaJS's default producer partitioner picks", () => {
    const partitioner = Partitioners.DefaultPartitioner();
    const metadata: PartitionMetadata[] = Array.from({ length: 6 }, (_, partitionId) => ({
      partitionErrorCode: 0,
      partitionId,
      leader: 1,
      replicas: [1],
      isr: [1],
    }));
    for (let i = 0; i < 500; i++) {
      const key = `DEMO-${String(i).padStart(6, '0')}`;
      expect(murmur2Partition(key, 6)).toBe(partitioner({ topic: 't', partitionMetadata: metadata, message: { key, value: null } }));
    }
  });

  it("places the audit producer's messages as KafkaJS's default partitioner does, keyed, keyless or aimed", () => {
    const metadata: PartitionMetadata[] = Array.from({ length: 12 }, (_, partitionId) => ({
      partitionErrorCode: 0,
      partitionId,
      leader: 1,
      replicas: [1],
      isr: [1],
    }));
    const cached = CachedMurmur2Partitioner();
    const kafkajs = Partitioners.DefaultPartitioner();
    for (let i = 0; i < 300; i++) {
      // A string and the bytes whose latin1 reading is that string hash apart: both forms, interleaved.
      const text = `CAFÉ-${i % 40}`;
      for (const key of [text, Buffer.from(text, 'utf8'), Buffer.from(text, 'latin1')]) {
        const message = { key, value: null };
        expect(cached({ topic: 't', partitionMetadata: metadata, message })).toBe(kafkajs({ topic: 't', partitionMetadata: metadata, message }));
      }
    }
    expect(cached({ topic: 't', partitionMetadata: metadata, message: { key: 'foobar', value: null, partition: 5 } })).toBe(5);
    const keyless = new Set(Array.from({ length: 24 }, () => cached({ topic: 't', partitionMetadata: metadata, message: { key: null, value: null } })));
    expect(keyless.size).toBe(12);
  });

  it('hashes the UTF-8 bytes of the key', () => {
    expect(murmur2Partition('CAFÉ-10', 12)).toBe(murmur2Partition(Buffer.from('CAFÉ-10', 'utf8'), 12));
  });

  it('refuses a partition count that is not a positive whole number', () => {
    expect(() => murmur2Partition('x', 0)).toThrow(RangeError);
    expect(() => murmur2Partition('x', 1.5)).toThrow(RangeError);
  });

  it('names a misplaced record, its rightful partition and its producer', () => {
    const key = Buffer.from('foobar');
    expect(misplacement(key, 16, 50, { clientId: null })).toBeNull();
    const reason = misplacement(key, 3, 50, { clientId: 'py-checkout-1', source: 'web' });
    expect(reason).toMatch(/key "foobar" belongs in partition 16 of 50/);
    expect(reason).toMatch(/found in partition 3/);
    expect(reason).toMatch(/client\.id "py-checkout-1", source "web"/);
    expect(misplacement(key, 3, 50, { clientId: null })).toMatch(/no client\.id header/);
    expect(misplacement(null, 3, 50, { clientId: null })).toBeNull();
  });

  it('reads the client id a producer put in a header', () => {
    expect(producerClientId({ 'client.id': Buffer.from('svc-a') })).toBe('svc-a');
    expect(producerClientId({ client_id: 'svc-b' })).toBe('svc-b');
    expect(producerClientId({ other: 'x' })).toBeNull();
    expect(producerClientId(undefined)).toBeNull();
  });

  it('places a key that is not valid UTF-8 by its bytes, not by its reading', () => {
    // 0xfe reads as U+FFFD, whose UTF-8 (ef bf bd) hashes elsewhere: the bytes decide.
    const key = Buffer.from([0x42, 0x43, 0xfe]);
    const reading = key.toString();
    const count = 12;
    const byBytes = murmur2Partition(key, count);
    expect(murmur2Partition(reading, count)).not.toBe(byBytes);
    const message = { key, value: null, timestamp: '0', attributes: 0, offset: '7', headers: {} };
    const request = { source: 'web', coupon_code: reading };
    expect(() => assertPlacement(message, request, byBytes, count)).not.toThrow();
    expect(() => assertPlacement(message, request, murmur2Partition(reading, count), count)).toThrow(/belongs in partition/);
  });

  it('throws WRONG_PARTITION only for a misplaced record, and checks nothing without a partition count', () => {
    const message = { key: Buffer.from('abc'), value: null, timestamp: '0', attributes: 0, offset: '7', headers: {} };
    const request = { source: 'web', coupon_code: 'abc' };
    expect(() => assertPlacement(message, request, 3, 6)).not.toThrow();
    expect(() => assertPlacement(message, request, 2, undefined)).not.toThrow();
    const error = (() => {
      try {
        assertPlacement(message, request, 2, 6);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(UnprocessableMessageError);
    expect((error as UnprocessableMessageError).code).toBe('WRONG_PARTITION');
    expect((error as UnprocessableMessageError).retriable).toBe(false);
  });
});
