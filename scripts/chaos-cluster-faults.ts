import type { Kafka } from 'kafkajs';

import type { Config } from '../lib/config.js';
import { keySlot, type RedisClient, redisMasters } from '../lib/redis.js';
import { kafkaClusterBrokers, kafkaNodePid, liveBrokers, nodeAnswers, startKafkaNode, stopKafkaNode } from './stack/kafka-cluster.js';
import { killRedisMaster, redisClusterNodes, startRedisNode } from './stack/redis-cluster.js';

/**
 * The chaos run's faults for the cluster profile (`stack up --kafka-nodes 3 --redis-cluster`), struck
 * only when the run is pointed at it (KAFKA_BROKERS / REDIS_CLUSTER_NODES naming the profile's nodes)
 * and this checkout's stack started those processes: kill -9 the broker leading most partitions of the
 * requests topic and bring it back; kill -9 the Redis master of a hot coupon (its replica takes over,
 * the killed node comes back as a replica); a rolling restart of the three brokers.
 */
export const CLUSTER_FAULT_KINDS = ['kill-9-broker', 'kill-9-redis-master', 'rolling-restart-kafka'] as const;
export type ClusterFaultKind = (typeof CLUSTER_FAULT_KINDS)[number];

export function clusterFaultKinds(config: Pick<Config, 'kafkaBrokers' | 'redisClusterNodes'>): ClusterFaultKind[] {
  const kafka = config.kafkaBrokers.join(',') === kafkaClusterBrokers() && kafkaNodePid(1) !== null;
  const redis = config.redisClusterNodes.map((n) => `${n.host}:${n.port}`).join(',') === redisClusterNodes();
  return CLUSTER_FAULT_KINDS.filter((k) => (k === 'kill-9-redis-master' ? redis : kafka));
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  throw new Error(`cluster fault: the cluster did not recover within ${timeoutMs / 1000} s`);
}

async function inSync(kafka: Kafka): Promise<boolean> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const { topics } = await admin.fetchTopicMetadata();
    return topics.every((t) => t.partitions.every((p) => p.leader >= 0 && p.isr.length === p.replicas.length));
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Node `id` answers again, alive in the cluster's metadata, and every replica of every topic is in sync. */
async function backInSync(kafka: Kafka, id: number): Promise<boolean> {
  return (await nodeAnswers(id)) && (await inSync(kafka));
}

async function busiestLeader(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const leads = new Map<number, number>();
    for (const p of (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions) leads.set(p.leader, (leads.get(p.leader) ?? 0) + 1);
    return [...leads].sort((a, b) => b[1] - a[1])[0]![0];
  } finally {
    await admin.disconnect();
  }
}

/** Strikes `kind` and returns once the cluster is whole again (every replica in sync, every node back). */
export async function strikeClusterFault(
  kind: ClusterFaultKind,
  o: { kafka: Kafka; topic: string; hotKey: string; progress?: (line: string) => void },
): Promise<boolean> {
  switch (kind) {
    case 'kill-9-broker': {
      const id = await busiestLeader(o.kafka, o.topic);
      const struckAt = Date.now();
      if (!(await stopKafkaNode(id, 'SIGKILL'))) return false;
      try {
        // Fenced once a node that answers no longer lists it (an empty answer means no node answered: it
        // says nothing). Restarted before that, the node would be back before the cluster ever noticed
        // it gone: no leader would move.
        await waitUntil(async () => {
          const live = await liveBrokers();
          return live.length > 0 && !live.includes(id);
        }, 30_000);
        o.progress?.(`kafka-cluster: node ${id} killed (kill -9), fenced after ${Date.now() - struckAt} ms; restarting it`);
      } finally {
        // Back in any case: a cluster left a node short would fail whatever runs next.
        startKafkaNode(id);
      }
      await waitUntil(() => backInSync(o.kafka, id), 180_000);
      o.progress?.(`kafka-cluster: node ${id} back, every replica in sync, ${Date.now() - struckAt} ms after the kill`);
      return true;
    }
    case 'kill-9-redis-master': {
      const { killed } = await killRedisMaster(keySlot(o.hotKey));
      await startRedisNode(killed);
      return true;
    }
    case 'rolling-restart-kafka':
      for (const id of [1, 2, 3]) {
        const stoppedAt = Date.now();
        if (!(await stopKafkaNode(id, 'SIGTERM'))) return false;
        o.progress?.(`kafka-cluster: node ${id} stopped (SIGTERM) in ${Date.now() - stoppedAt} ms; restarting it`);
        startKafkaNode(id);
        await waitUntil(() => backInSync(o.kafka, id), 180_000);
        o.progress?.(`kafka-cluster: node ${id} back, every replica in sync, ${Date.now() - stoppedAt} ms after its stop`);
      }
      return true;
  }
}

/** FLUSHALL on every master: on a cluster, one FLUSHALL reaches only the node it is sent to. */
export async function flushAllMasters(redis: RedisClient): Promise<void> {
  await Promise.all(redisMasters(redis).map((node) => node.flushall()));
}
