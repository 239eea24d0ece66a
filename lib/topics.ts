import type { Admin } from 'kafkajs';
import type { Logger } from 'pino';
import { deadLetterTopic, type Config } from './config.js';
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

export async function ensurePipelineTopics(admin: Admin, config: Parameters<typeof pipelineTopics>[0], logger: Logger): Promise<void> {
  await ensureTopics(admin, pipelineTopics(config), logger);
}
