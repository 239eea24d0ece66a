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
import { type ICustomPartitioner, Partitioners, type PartitionMetadata } from 'kafkajs';

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
 * CACHE_LIMIT keys per partition count (then forgotten wholesale: a cheap bound on memory). String keys
 * and byte keys are remembered apart: a string is its own cache key (nothing allocated on a hit), bytes
 * go by their latin1 reading (one character per byte, so exact), and the two readings could collide.
 */
const CACHE_LIMIT = 100_000;
const stringCaches = new Map<number, Map<string, number>>();
const byteCaches = new Map<number, Map<string, number>>();

function cacheFor(caches: Map<number, Map<string, number>>, partitionCount: number): Map<string, number> {
  let cache = caches.get(partitionCount);
  if (!cache) caches.set(partitionCount, (cache = new Map()));
  return cache;
}

/** The partition a key belongs in on a topic of `partitionCount` partitions. */
export function murmur2Partition(key: Buffer | string, partitionCount: number): number {
  if (!Number.isSafeInteger(partitionCount) || partitionCount < 1) throw new RangeError(`partition count must be a whole number >= 1, got ${partitionCount}`);
  const isString = typeof key === 'string';
  const cache = cacheFor(isString ? stringCaches : byteCaches, partitionCount);
  const cacheKey = isString ? key : key.toString('latin1');
  const known = cache.get(cacheKey);
  if (known !== undefined) return known;
  const bytes = isString ? Buffer.from(key, 'utf8') : key;
  const partition = murmur2Partitioner({ topic: '', partitionMetadata: partitionMetadata(partitionCount), message: { key: bytes, value: null } });
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(cacheKey, partition);
  return partition;
}

/**
 * A producer partitioner that places keyed messages as KafkaJS's DefaultPartitioner does, through the
 * remembered hashes above (KafkaJS's own hashed every key of every send again: 7% of the consumer's
 * allocations went to the audit records' keys). Keyless messages and explicit partitions are left to
 * KafkaJS's partitioner, so nothing but the speed differs.
 */
export const CachedMurmur2Partitioner: ICustomPartitioner = () => {
  const fallback = Partitioners.DefaultPartitioner();
  return (args) => {
    const { key, partition } = args.message;
    if ((partition === undefined || partition === null) && key !== null && key !== undefined) return murmur2Partition(key, args.partitionMetadata.length);
    return fallback(args);
  };
};
