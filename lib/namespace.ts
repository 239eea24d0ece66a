import type { Kafka } from 'kafkajs';

import type { SchemaRegistryClient } from '../schemas/registry.js';
import { withAdmin } from './kafka.js';
import { dropDatabase } from './mysql.js';
import { isCluster, type RedisClient, redisMasters, redisReady } from './redis.js';

/** What of the schema registry a namespace's removal needs. */
export type SubjectRegistry = Pick<SchemaRegistryClient, 'subjects' | 'deleteSubject'>;

/**
 * Removes what a test, chaos or benchmark run made for itself: the topics whose names start with
 * `topicPrefix` (and, given the registry, their subjects `<topic>-value`, which the registry keeps on
 * disk), the Redis keys under `redisPattern`, and the given databases.
 */
export async function removeNamespace(o: {
  kafka: Kafka;
  redis: RedisClient;
  registry?: SubjectRegistry;
  topicPrefix: string;
  redisPattern: string;
  databases: readonly string[];
}): Promise<void> {
  await withAdmin(o.kafka, async (admin) => {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(o.topicPrefix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
  });
  if (o.registry) await removeSubjects(o.registry, o.topicPrefix);
  await removeRedisKeys(o.redis, o.redisPattern);
  for (const url of o.databases) await dropDatabase(url);
}

/** Deletes for good every registry subject whose name starts with `prefix`; returns how many. */
export async function removeSubjects(registry: SubjectRegistry, prefix: string): Promise<number> {
  const subjects = (await registry.subjects()).filter((subject) => subject.startsWith(prefix));
  for (const subject of subjects) await registry.deleteSubject(subject);
  return subjects.length;
}

/**
 * Deletes the Redis keys matching `pattern` (SCAN and UNLINK, so Redis is never blocked, neither by the
 * walk nor by freeing large values); returns how many. SCAN
 * walks one server's keys: on a cluster, every master's. The keys of one SCAN page may lie in many slots,
 * which one UNLINK on a cluster refuses, so they go one UNLINK per key there, pipelined per master.
 */
export async function removeRedisKeys(redis: RedisClient, pattern: string): Promise<number> {
  await redisReady(redis);
  let removed = 0;
  for (const node of redisMasters(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length > 0) {
        if (isCluster(redis)) {
          const pipeline = node.pipeline();
          for (const key of keys) pipeline.unlink(key);
          removed += ((await pipeline.exec()) ?? []).filter(([error]) => !error).length;
        } else removed += await node.unlink(...keys);
      }
      cursor = next;
    } while (cursor !== '0');
  }
  return removed;
}
