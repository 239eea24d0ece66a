/**
 * The cluster profile of the local stack (`stack up --kafka-nodes 3 --redis-cluster`): a replicated Kafka
 * and a Redis Cluster beside the single-node stack. The pipeline uses them when pointed at them:
 * KAFKA_BROKERS and REDIS_CLUSTER_NODES, printed by `up`.
 */
import { kafkaClusterBrokers, kafkaClusterDown, kafkaClusterStarted, kafkaClusterStatus, kafkaClusterUp } from './kafka-cluster.js';
import { redisClusterDown, redisClusterNodes, redisClusterStarted, redisClusterStatus, redisClusterUp } from './redis-cluster.js';
import type { ComponentStatus } from './stack.js';

type Print = (line: string) => void;

export const CLUSTER_ENV = { KAFKA_BROKERS: kafkaClusterBrokers(), REDIS_CLUSTER_NODES: redisClusterNodes() } as const;

export async function clusterUp(o: { kafka: boolean; redis: boolean }, print: Print): Promise<void> {
  if (o.redis) await redisClusterUp(print);
  if (o.kafka) await kafkaClusterUp(print);
  if (o.kafka || o.redis) {
    const env = [o.kafka ? `KAFKA_BROKERS=${CLUSTER_ENV.KAFKA_BROKERS}` : '', o.redis ? `REDIS_CLUSTER_NODES=${CLUSTER_ENV.REDIS_CLUSTER_NODES}` : ''].filter(
      Boolean,
    );
    print(`cluster profile up; point the pipeline at it with: export ${env.join(' ')}`);
  }
}

/** Stops the cluster processes this stack started (none of the single-node stack's). */
export async function clusterDown(print: Print): Promise<void> {
  await kafkaClusterDown(print);
  await redisClusterDown(print);
}

/** A row per cluster node, for `stack status`, only for the parts of the profile this stack started. */
export async function clusterStatus(): Promise<(Omit<ComponentStatus, 'component'> & { component: string })[]> {
  const rows: (Omit<ComponentStatus, 'component'> & { component: string })[] = [];
  if (kafkaClusterStarted()) {
    for (const n of await kafkaClusterStatus())
      rows.push({
        component: `kafka-${n.id}`,
        address: n.address,
        up: n.alive,
        managed: n.pid ? `cluster node, started by stack (pid ${n.pid})` : 'cluster node, not running',
      });
  }
  if (redisClusterStarted()) {
    for (const n of redisClusterStatus())
      rows.push({
        component: `redis-${n.port}`,
        address: `127.0.0.1:${n.port}`,
        up: n.up,
        managed: `cluster ${n.role}${n.pid ? `, started by stack (pid ${n.pid})` : ''}`,
      });
  }
  return rows;
}
