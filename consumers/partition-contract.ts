import { Partitioners, type IHeaders, type KafkaMessage, type PartitionMetadata } from 'kafkajs';
import { UnprocessableMessageError } from '../lib/errors.js';

/**
 * The partition contract: a request sits in the partition its key hashes to with murmur2, as Java's
 * default partitioner computes it, `toPositive(murmur2(keyBytes)) % numPartitions`. That is what
 * KafkaJS's default partitioner, the Java client and librdkafka's `murmur2_random` do. A producer with
 * another partitioner (librdkafka's default `consistent_random` hashes with CRC32) spreads one coupon's
 * requests over several partitions, where different members decide them in no particular order: the
 * pipeline's per-coupon order would be lost without anyone noticing. So the consumer checks.
 *
 * The hash is KafkaJS's own (its public DefaultPartitioner, not a copy), so the check agrees with the
 * project's producers by construction; test/unit/partition-contract.test.ts pins it to Java's values.
 */

// One partitioner instance: its only state is a round-robin counter for keyless messages, never used here.
const murmur2Partitioner = Partitioners.DefaultPartitioner();
const metadataByCount = new Map<number, PartitionMetadata[]>();

function partitionMetadata(count: number): PartitionMetadata[] {
  let metadata = metadataByCount.get(count);
  if (!metadata) {
    metadata = Array.from({ length: count }, (_, partitionId) => ({ partitionErrorCode: 0, partitionId, leader: 0, replicas: [0], isr: [0] }));
    metadataByCount.set(count, metadata);
  }
  return metadata;
}

/**
 * KafkaJS's murmur2 works on 64-bit Long objects: about 3 µs a key here, 7% of a core at the pipeline's
 * 24,000 requests/s. Coupon keys repeat (hot coupons most), so results are remembered per key, up to
 * CACHE_LIMIT keys per partition count (then forgotten wholesale: a cheap bound on memory).
 */
const CACHE_LIMIT = 100_000;
const cacheByCount = new Map<number, Map<string, number>>();

/** The partition a key belongs in on a topic of `partitionCount` partitions. */
export function murmur2Partition(key: Buffer | string, partitionCount: number): number {
  if (!Number.isSafeInteger(partitionCount) || partitionCount < 1) throw new RangeError(`partition count must be a whole number >= 1, got ${partitionCount}`);
  const bytes = Buffer.isBuffer(key) ? key : Buffer.from(key, 'utf8');
  // latin1 maps each byte to one character: an exact, cheap cache key for any bytes.
  const cacheKey = bytes.toString('latin1');
  let cache = cacheByCount.get(partitionCount);
  if (!cache) cacheByCount.set(partitionCount, (cache = new Map()));
  const known = cache.get(cacheKey);
  if (known !== undefined) return known;
  const partition = murmur2Partitioner({ topic: '', partitionMetadata: partitionMetadata(partitionCount), message: { key: bytes, value: null } });
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(cacheKey, partition);
  return partition;
}

/**
 * Headers a producer may set to say who it is. Kafka records do not carry the producing client's id, so
 * a misplaced record can only be traced back if its producer names itself; the examples set `client.id`.
 */
export const CLIENT_ID_HEADERS = ['client.id', 'client_id', 'clientId'] as const;

export function producerClientId(headers: IHeaders | undefined): string | null {
  for (const name of CLIENT_ID_HEADERS) {
    const value = headers?.[name];
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) return first.toString();
  }
  return null;
}

/**
 * Null when the record is where its key says, else why not (for the dead letter's reason and the log).
 * A record without a key is not checked here: the key check (key = coupon code) refuses it first.
 */
export function misplacement(
  key: Buffer | null,
  partition: number,
  partitionCount: number,
  who: { clientId: string | null; source?: string },
): string | null {
  if (key === null) return null;
  const expected = murmur2Partition(key, partitionCount);
  if (expected === partition) return null;
  const producer = [who.clientId !== null ? `producer client.id "${who.clientId}"` : 'producer sent no client.id header', who.source !== undefined ? `source "${who.source}"` : null]
    .filter((s) => s !== null)
    .join(', ');
  return (
    `key "${key.toString()}" belongs in partition ${expected} of ${partitionCount} (murmur2, as Java and KafkaJS partition) but was found in partition ${partition}: ` +
    `its producer does not partition by murmur2 (librdkafka needs partitioner=murmur2_random); ${producer}`
  );
}

/**
 * Throws the dead letter WRONG_PARTITION for a decoded, valid request that is not where its key says.
 * Called last, after every other check, so that a WRONG_PARTITION dead letter is a good request in the
 * wrong place, which `redeem dlq redrive` can send again once its producer is fixed.
 * `partitionCount` undefined: the caller does not know the topic's partitions, nothing is checked.
 */
export function assertPlacement(message: KafkaMessage, source: string, partition: number, partitionCount: number | undefined): void {
  if (partitionCount === undefined) return;
  const wrong = misplacement(message.key, partition, partitionCount, { clientId: producerClientId(message.headers), source });
  if (wrong !== null) throw new UnprocessableMessageError('WRONG_PARTITION', wrong);
}
