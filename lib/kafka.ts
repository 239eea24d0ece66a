import { randomBytes } from 'node:crypto';

import { type Admin, type Batch, Kafka, type KafkaConfig, type LogEntry, logLevel, type ProducerConfig } from 'kafkajs';
import type { Logger } from 'pino';

import { registerCompressionCodecs } from './compression-codecs.js';

const PINO_LEVEL: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * `security`: TLS and SASL (lib/connections.ts `kafkaSecurity`); none for the local stack.
 * `requestTimeoutMs` must exceed the consumers' rebalance timeout: the coordinator may hold a SyncGroup
 * that long (see REQUEST_TIMEOUT_MS and patches/kafkajs+2.2.4.patch).
 */
export function createKafka(
  brokers: string[],
  clientId: string,
  logger: Logger,
  security: Pick<KafkaConfig, 'ssl' | 'sasl'> = {},
  requestTimeoutMs = 30000,
): Kafka {
  // The default partitioner (murmur2, as the Java client) is what we want; silence KafkaJS's v2 notice.
  process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
  // Batches another client compressed with Snappy, LZ4 or Zstandard are read too (compression-codecs.ts).
  registerCompressionCodecs();
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId,
    brokers,
    ...security,
    connectionTimeout: 3000,
    requestTimeout: requestTimeoutMs,
    retry: { initialRetryTime: 300, retries: 8, maxRetryTime: 5000 },
    // KafkaJS's INFO lines are connection chatter; warnings and errors still reach the log.
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...rest } = entry.log;
      // KafkaJS logs every error response at ERROR before it retries ("coordinator is loading" at start);
      // only what it gives up on reaches us as a thrown error, so these are warnings.
      const level = entry.namespace === 'Connection' && entry.level === logLevel.ERROR ? 'warn' : (PINO_LEVEL[entry.level] ?? 'info');
      kafkaLogger[level]({ namespace: entry.namespace, ...rest }, message);
    },
  });
}

/** Runs `work` with a connected admin client of `kafka`, and always disconnects it. */
export async function withAdmin<T>(kafka: Kafka, work: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.disconnect();
  }
}

export interface TopicSpec {
  topic: string;
  partitions: number;
  /** Replicas per partition; the broker's default.replication.factor when absent. */
  replicationFactor?: number;
  configs?: Record<string, string>;
}

/**
 * Creates the topics that do not exist yet. An existing topic keeps its partition count: changing it
 * would move coupons between partitions and break their order, so a mismatch is only reported.
 */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[], logger: Logger): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length > 0) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((s) => ({
        topic: s.topic,
        numPartitions: s.partitions,
        replicationFactor: s.replicationFactor ?? -1,
        configEntries: Object.entries(s.configs ?? {}).map(([name, value]) => ({ name, value })),
      })),
    });
    logger.info({ topics: missing.map((s) => s.topic) }, 'created topics');
  }
  const present = specs.filter((s) => existing.has(s.topic));
  if (present.length > 0) {
    const metadata = await admin.fetchTopicMetadata({ topics: present.map((s) => s.topic) });
    for (const t of metadata.topics) {
      const wanted = specs.find((s) => s.topic === t.name)!.partitions;
      if (t.partitions.length !== wanted) {
        logger.warn({ topic: t.name, partitions: t.partitions.length, configured: wanted }, 'topic exists with another partition count; keeping it');
      }
    }
  }
}

/**
 * Idempotent, acks=all, one request in flight (so retries keep order), and retries without limit: an
 * idempotent producer that gives up may leave its sequence numbers in doubt, and the pipeline would
 * rather wait for a broker that is restarting than fail the batch.
 */
export const IDEMPOTENT_PRODUCER: ProducerConfig = {
  idempotent: true,
  maxInFlightRequests: 1,
  allowAutoTopicCreation: false,
  retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 300, maxRetryTime: 5000 },
};

export interface GroupProgress {
  /** partition → the next offset to be written */
  ends: Map<number, number>;
  /** partition → the group's committed offset (0 where nothing is committed yet) */
  committed: Map<number, number>;
  /** messages not yet committed by the group, over all partitions */
  lag: number;
}

/** How far a consumer group has come through a topic. */
export async function groupProgress(admin: Admin, groupId: string, topic: string): Promise<GroupProgress> {
  const [offsets, [committedTopic]] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
  const ends = new Map(offsets.map((o) => [o.partition, Number(o.high)]));
  const committed = new Map(committedTopic!.partitions.map((c) => [c.partition, Math.max(0, Number(c.offset))]));
  let lag = 0;
  for (const [partition, end] of ends) lag += Math.max(0, end - (committed.get(partition) ?? 0));
  return { ends, committed, lag };
}

/**
 * Reads a topic from its start under a throwaway consumer group that commits nothing, handing each
 * batch to `onBatch`, until at least `count` messages have been read.
 */
export async function readTopicFromStart(kafka: Kafka, topic: string, count: number, onBatch: (batch: Batch) => Promise<void> | void): Promise<void> {
  if (count <= 0) return;
  const consumer = kafka.consumer({ groupId: `redeem-read-${randomBytes(4).toString('hex')}`, maxBytes: 8 << 20, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let seen = 0;
    let finish: () => void = () => {};
    const done = new Promise<void>((resolve) => (finish = resolve));
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        await onBatch(batch);
        seen += batch.messages.length;
        if (seen >= count) finish();
      },
    });
    await done;
  } finally {
    await consumer.disconnect();
  }
}
