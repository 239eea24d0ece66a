import type { Kafka } from 'kafkajs';
import { dropDatabase } from './mysql.js';
import { isCluster, type RedisClient, redisMasters, redisReady } from './redis.js';

/**
 * Removes what a test, chaos or benchmark run made for itself: the topics whose names start with
 * `topicPrefix`, the Redis keys under `redisPattern`, and the given databases.
 */
export async function removeNamespace(o: { kafka: Kafka; redis: RedisClient; topicPrefix: string; redisPattern: string; databases: readonly string[] }): Promise<void> {
  const admin = o.kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(o.topicPrefix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
  await redisReady(o.redis);
  // SCAN walks one server's keys: on a cluster, every master's. The keys of one SCAN page may lie in many
  // slots, which one DEL on a cluster refuses, so they go one UNLINK per key there, pipelined per master.
  for (const node of redisMasters(o.redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', o.redisPattern, 'COUNT', 1000);
      if (keys.length > 0) {
        if (isCluster(o.redis)) {
          const pipeline = node.pipeline();
          for (const key of keys) pipeline.unlink(key);
          await pipeline.exec();
        } else await node.del(...keys);
      }
      cursor = next;
    } while (cursor !== '0');
  }
  for (const url of o.databases) await dropDatabase(url);
}
