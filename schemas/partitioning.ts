/**
 * How a request is placed: in the partition its key (the coupon code, UTF-8) hashes to with murmur2, as
 * Java's default partitioner computes it, `toPositive(murmur2(keyBytes)) % numPartitions`; KafkaJS's
 * default partitioner, the Java client and librdkafka's `murmur2_random` do the same. It is part of the
 * Kafka contract, like the schemas: the producers place requests with it, the consumer checks each
 * request's place with it (consumers/partition-contract.ts), and the independent verification
 * (verify/) reads the topic with it.
 *
 * The hash is KafkaJS's own (its public DefaultPartitioner, not a copy), so it agrees with KafkaJS's
 * producers by construction; test/unit/partition-contract.test.ts pins it to Java's values.
 */
import { Partitioners, type PartitionMetadata } from 'kafkajs';

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
