import { withAdmin } from './kafka.js';
import type { Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import { dropDatabase } from './mysql.js';
import { redisReady } from './redis.js';

/**
 * Removes what a test, chaos or benchmark run made for itself: the topics whose names start with
 * `topicPrefix`, the Redis keys under `redisPattern`, and the given databases.
 */
export async function removeNamespace(o: { kafka: Kafka; redis: Redis; topicPrefix: string; redisPattern: string; databases: readonly string[] }): Promise<void> {
  await withAdmin(o.kafka, async (admin) => {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(o.topicPrefix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
  });
  await removeRedisKeys(o.redis, o.redisPattern);
  for (const url of o.databases) await dropDatabase(url);
}

/** Deletes the Redis keys matching `pattern` (SCAN, so Redis is never blocked); returns how many. */
export async function removeRedisKeys(redis: Redis, pattern: string): Promise<number> {
  await redisReady(redis);
  let removed = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length > 0) removed += await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  return removed;
}
