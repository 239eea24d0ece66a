import type { Admin } from 'kafkajs';
import type { Logger } from 'pino';

import { type Config, deadLetterTopic } from './config.js';
import { ConfigError } from './errors.js';
import { ensureTopics, type TopicSpec } from './kafka.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The topics the pipeline owns. Requests and dead letters are kept forever: the requests topic is the
 * history that replays, rebuilds and `verify` read. The audit stream is kept 30 days; its state lives on
 * in MySQL's decisions table.
 */
export function pipelineTopics(config: Pick<Config, 'redemptionTopic' | 'auditTopic' | 'topicPartitions'>): TopicSpec[] {
  return [
    { topic: config.redemptionTopic, partitions: config.topicPartitions, configs: { 'retention.ms': '-1' } },
    { topic: config.auditTopic, partitions: config.topicPartitions, configs: { 'retention.ms': String(30 * DAY_MS) } },
    { topic: deadLetterTopic(config.redemptionTopic), partitions: 1, configs: { 'retention.ms': '-1' } },
  ];
}

type ReplicationSettings = Pick<Config, 'topicReplicationFactor' | 'topicMinInsyncReplicas'>;

/**
 * The replication of the topics to create, resolved against the cluster's size: `auto` is min(3, brokers)
 * replicas and min.insync.replicas 2 with 3 or more replicas (1 below), so a single dev broker and a
 * 3-node cluster both work unconfigured. A setting the cluster cannot honour stops here, naming it.
 */
export function resolveReplication(config: ReplicationSettings, brokers: number): { replicationFactor: number; minInsyncReplicas: number } {
  const replicationFactor = config.topicReplicationFactor === 'auto' ? Math.min(3, brokers) : config.topicReplicationFactor;
  if (replicationFactor > brokers) {
    throw new ConfigError([
      {
        setting: 'TOPIC_REPLICATION_FACTOR',
        problem: `is ${replicationFactor} but the cluster has ${brokers} broker(s); a topic cannot have more replicas than brokers`,
      },
    ]);
  }
  const minInsyncReplicas = config.topicMinInsyncReplicas === 'auto' ? (replicationFactor >= 3 ? 2 : 1) : config.topicMinInsyncReplicas;
  if (minInsyncReplicas > replicationFactor) {
    throw new ConfigError([
      {
        setting: 'TOPIC_MIN_INSYNC_REPLICAS',
        problem: `is ${minInsyncReplicas} but topics get ${replicationFactor} replica(s); no acks=all write could succeed`,
      },
    ]);
  }
  return { replicationFactor, minInsyncReplicas };
}

/** The pipeline's topics with their replication for this cluster (which it asks for its size). */
export async function replicatedPipelineTopics(
  admin: Admin,
  config: Parameters<typeof pipelineTopics>[0] & Partial<ReplicationSettings>,
): Promise<TopicSpec[]> {
  const brokers = (await admin.describeCluster()).brokers.length;
  const { replicationFactor, minInsyncReplicas } = resolveReplication(
    { topicReplicationFactor: config.topicReplicationFactor ?? 'auto', topicMinInsyncReplicas: config.topicMinInsyncReplicas ?? 'auto' },
    brokers,
  );
  return pipelineTopics(config).map((t) => ({ ...t, replicationFactor, configs: { ...t.configs, 'min.insync.replicas': String(minInsyncReplicas) } }));
}

export async function ensurePipelineTopics(admin: Admin, config: Parameters<typeof replicatedPipelineTopics>[1], logger: Logger): Promise<void> {
  await ensureTopics(admin, await replicatedPipelineTopics(admin, config), logger);
}
