import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { hostname } from 'node:os';

import type { Admin, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Knex } from 'knex';
import type { Logger } from 'pino';

import type { Config } from '../lib/config.js';
import { kafkaSecurity } from '../lib/connections.js';
import { cachePrefix, databaseIdentity } from '../lib/database-identity.js';
import { RedemptionError } from '../lib/errors.js';
import { FaultInjector } from '../lib/faults.js';
import { createKafka } from '../lib/kafka.js';
import { RateLimiter } from '../lib/progress.js';
import type { RedisClient } from '../lib/redis.js';
import type { SchemaRegistryClient } from '../schemas/registry.js';
import type { RedemptionDecided, RedemptionRequested } from '../schemas/types.js';
import { BatchProcessor } from './batch-processor.js';
import { ConsumerStats } from './consumer-stats.js';
import { DecisionCache } from './decision-cache.js';
import { DecisionPublisher } from './decision-publisher.js';
import { FlushCoalescer } from './flush-coalescer.js';
import { GhostReaper, type GhostReaperOptions, leaseKey, memberClientId, MemberLease, memberName, type PipelineIdentity } from './member-liveness.js';
import { startOpsServer } from './ops-server.js';
import { ProgressWatch } from './progress-watch.js';
import { RedemptionStore } from './redemption-store.js';
import { stickyAssignor } from './sticky-assignor.js';
import type { Ownership } from './sticky-plan.js';

export interface ConsumerDeps {
  kafka: Kafka;
  registry: SchemaRegistryClient;
  redis: RedisClient;
  knex: Knex;
  logger: Logger;
}

/**
 * How a member runs. The pipeline's members take the defaults; a replay or rebuild reads a range under
 * its own group, maybe paced, maybe without writing (dry run) or without publishing audit records.
 */
export interface RunMode {
  /** Per partition, read from `start` up to `stop` (exclusive), then finish. */
  range?: Map<number, { start: number; stop: number }>;
  ratePerSecond?: number | null;
  dryRun?: boolean;
  publish?: boolean;
  onProgress?(messages: number): void;
}

export function newConsumerId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * One member of the consumer group. It commits offsets itself, and only after a chunk's effects are in
 * MySQL and its audit records are acknowledged, so a crash at any point redelivers rather than loses.
 * During long work (a big flush, a retry loop waiting for MySQL) it keeps heartbeating, so a slow batch
 * does not cost a rebalance.
 */
export class RedemptionConsumer {
  readonly stats = new ConsumerStats();
  private consumer: Consumer | null = null;
  private publisher: DecisionPublisher | null = null;
  private stopping = false;
  private joined = false;
  /** Crashed since the last join: the rejoin counts as a rebalance. */
  private crashed = false;
  private inFlight = 0;
  private lastActivity = Date.now();
  private owned: Ownership = new Map();
  private opsServer: Server | null = null;
  /** Partitions of the requests topic, from its metadata: the partition contract is checked against it. */
  private partitionCount: number | undefined;
  /** The port /metrics, /healthz and /readyz are served on, once started. */
  opsPort: number | null = null;

  private readonly pending: Set<number>;
  private readonly limiter: RateLimiter;
  private readonly finishedRange: Promise<void>;
  private finishRange: () => void = () => {};
  private watch: ProgressWatch | null = null;
  private lease: MemberLease | null = null;
  private reaper: GhostReaper | null = null;
  private reaperAdmin: Admin | null = null;
  /** Rejects once the member has failed in a way KafkaJS will not restart from. */
  private readonly failure: Promise<never>;
  private fail: (error: RedemptionError) => void = () => {};

  constructor(
    private readonly config: Config,
    private readonly deps: ConsumerDeps,
    readonly consumerId: string = newConsumerId(),
    private readonly mode: RunMode = {},
  ) {
    this.limiter = new RateLimiter(mode.ratePerSecond ?? null);
    this.pending = new Set([...(mode.range ?? [])].filter(([, r]) => r.start < r.stop).map(([partition]) => partition));
    this.finishedRange = new Promise((resolve) => (this.finishRange = resolve));
    if (mode.range && this.pending.size === 0) this.finishRange();
    this.failure = new Promise<never>((_, reject) => (this.fail = reject));
    // Observed by whoever waits on the member; never an unhandled rejection of its own.
    this.failure.catch(() => {});
  }

  /**
   * Resolves once every partition of the run's range has been read (never, without a range); rejects
   * if the member fails for good first.
   */
  rangeDone(): Promise<void> {
    return Promise.race([this.finishedRange, this.failure]);
  }

  /**
   * Rejects when the member has crashed with an error KafkaJS does not restart from (a refusal, a bug):
   * it consumes nothing any more, and its process should exit so that its supervisor restarts it.
   */
  failed(): Promise<never> {
    return this.failure;
  }

  // start() wires the member's services in their start order (lease, progress watch, ops server,
  // processor, consumer, reaper). It is to be split into named steps once the hot-path rework of this
  // file (issue 18) has landed, so that the two changes do not collide.
  // eslint-disable-next-line max-lines-per-function -- a wiring sequence, split after issue 18 (above)
  async start(): Promise<void> {
    const { config, deps } = this;
    const logger = deps.logger.child({ consumerId: this.consumerId });
    const timing = { intervalMs: config.heartbeatIntervalMs };
    // Which pipeline this member works for: carried in its client id, so that peers judge only their own.
    const identity: PipelineIdentity = { keyPrefix: config.redisKeyPrefix, database: await databaseIdentity(deps.knex) };
    const name = memberName(this.consumerId, identity);
    // Before joining: from its first JoinGroup on, peers may judge this member by its lease.
    this.lease = new MemberLease({ redis: deps.redis, key: leaseKey(config.redisKeyPrefix, name), timing, logger });
    await this.lease.start();
    this.watch = new ProgressWatch({
      kafka: deps.kafka,
      groupId: config.consumerGroup,
      topic: config.redemptionTopic,
      stats: this.stats,
      logger,
      stallThresholdMs: config.stallThresholdSeconds * 1000,
      pollIntervalMs: Math.min(5000, Math.max(500, (config.stallThresholdSeconds * 1000) / 4)),
    });
    await this.watch.start();
    const ops = await startOpsServer(
      config.metricsPort,
      {
        registry: this.stats.registry,
        ready: () => this.joined && !this.stopping && this.owned.size > 0 && !this.watch!.stalled(),
      },
      config.metricsHost,
    );
    this.opsServer = ops.server;
    this.opsPort = ops.port;
    logger.info({ host: ops.host, port: ops.port }, 'serving /metrics, /healthz and /readyz');
    // Requests are only read (any registered writer schema, resolved into ours); audit records are written.
    const requestDecoder = deps.registry.decoderFor<RedemptionRequested>('requested');
    const decidedCodec = await deps.registry.codecFor<RedemptionDecided>('decided', config.auditTopic);
    this.publisher = await DecisionPublisher.connect(deps.kafka, decidedCodec, config.auditTopic, config.redemptionTopic, this.consumerId);
    const processor = new BatchProcessor({
      decoder: requestDecoder,
      // Bound to this database's identity: a cache filled for another (or an earlier copy of this) one is never read.
      cache: new DecisionCache(deps.redis, await cachePrefix(deps.knex, config.redisKeyPrefix), config.decisionCacheTtlSeconds, logger, (operation) =>
        this.stats.recordRedisError(operation),
      ),
      store: new RedemptionStore(deps.knex),
      publisher: this.publisher,
      stats: this.stats,
      logger,
      consumerId: this.consumerId,
      maxMessageBytes: config.maxMessageBytes,
      faults: new FaultInjector(config.faults),
      dryRun: this.mode.dryRun ?? false,
      publish: this.mode.publish ?? true,
      shouldStop: () => this.stopping,
    });

    const coalescer = new FlushCoalescer({
      processor,
      consumer: () => this.consumer!,
      maxMessages: config.flushMaxMessages,
      concurrency: config.flushConcurrency,
      commitOffsets: !this.mode.dryRun,
    });
    // The member's own client, whose id names its process and pipeline: the coordinator reports it for
    // every member, in every group state, which is how peers find its lease (member-liveness.ts).
    const memberKafka = createKafka(config.kafkaBrokers, memberClientId(name), deps.logger, kafkaSecurity(config), config.requestTimeoutMs);
    const consumer = memberKafka.consumer({
      groupId: config.consumerGroup,
      sessionTimeout: config.sessionTimeoutMs,
      heartbeatInterval: config.heartbeatIntervalMs,
      rebalanceTimeout: config.rebalanceTimeoutMs,
      maxBytes: config.fetchMaxBytes,
      maxBytesPerPartition: config.fetchMaxBytesPerPartition,
      maxWaitTimeInMs: config.fetchMaxWaitMs,
      allowAutoTopicCreation: false,
      partitionAssigners: [stickyAssignor(() => this.owned, this.consumerId)],
      retry: {
        initialRetryTime: 300,
        maxRetryTime: 5000,
        retries: 10,
        // By default KafkaJS gives up for good on an error it deems not retriable (seen after a broker
        // restart), leaving a live process that consumes nothing. Processing is idempotent, so restart.
        restartOnFailure: async (error: Error) => {
          logger.error({ err: error }, 'consumer failed; restarting it');
          return !this.stopping;
        },
      },
    });
    this.consumer = consumer;
    this.partitionCount = await requestsPartitionCount(deps.kafka, config.redemptionTopic);
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      // Partitions added to the topic cause a rejoin: take the new count (see partition-contract.ts).
      requestsPartitionCount(deps.kafka, config.redemptionTopic).then(
        (count) => (this.partitionCount = count),
        (error: unknown) => logger.warn({ err: error }, 'could not refresh the partition count of the requests topic; keeping the last one'),
      );
      if (this.joined || this.crashed) this.stats.recordRebalance();
      // The project's KafkaJS patch adds the generation to the event.
      const { generationId } = event.payload as { generationId?: number };
      if (typeof generationId === 'number') this.stats.recordGeneration(generationId);
      this.crashed = false;
      this.joined = true;
      this.lastActivity = Date.now();
      this.owned = new Map(Object.entries(event.payload.memberAssignment));
      this.watch?.assigned(event.payload.memberAssignment[config.redemptionTopic] ?? []);
      logger.info({ assignment: event.payload.memberAssignment, protocol: event.payload.groupProtocol, rebalances: this.stats.rebalances }, 'joined the group');
    });
    consumer.on(consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload;
      logger.error({ err: error, restart }, 'consumer crashed');
      // KafkaJS restarts under a new member id: the partitions are no longer ours, and a stale claim in
      // the next join metadata would make the sticky assignor take them from their new owner.
      this.owned = new Map();
      this.joined = false;
      this.crashed = true;
      if (restart || this.stopping) return;
      // KafkaJS restarts only after retriable errors; after any other it leaves the process alive and
      // consuming nothing. Fail loudly instead, so that the process exits and is restarted.
      const cause = rootCause(error);
      this.fail(
        new RedemptionError('CONSUMER_FAILED', `the consumer stopped on an error it cannot recover from: ${cause.name}: ${cause.message}`, { cause: error }),
      );
    });

    if (this.mode.range) {
      const admin = deps.kafka.admin();
      await admin.connect();
      try {
        await admin.setOffsets({
          groupId: config.consumerGroup,
          topic: config.redemptionTopic,
          partitions: [...this.mode.range].map(([partition, r]) => ({ partition, offset: String(r.start) })),
        });
      } finally {
        await admin.disconnect();
      }
    }
    this.reaperAdmin = deps.kafka.admin();
    await this.reaperAdmin.connect();
    this.reaper = new GhostReaper({
      // The project's KafkaJS patch adds removeGroupMember to the admin client (patches/kafkajs+2.2.4.patch).
      admin: this.reaperAdmin as GhostReaperOptions['admin'],
      redis: deps.redis,
      groupId: config.consumerGroup,
      topic: config.redemptionTopic,
      identity,
      self: name,
      timing,
      logger,
      stats: this.stats,
    });
    this.reaper.start();
    await consumer.connect();
    await consumer.subscribe({ topic: config.redemptionTopic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: config.partitionsConsumedConcurrently,
      eachBatch: (payload) => this.handleBatch(payload, coalescer, logger),
    });
  }

  private async handleBatch(payload: EachBatchPayload, coalescer: FlushCoalescer, logger: Logger): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    this.inFlight += 1;
    const keepAlive = setInterval(() => {
      heartbeat().catch((error: unknown) => logger.warn({ err: error }, 'heartbeat during a batch failed'));
    }, this.config.heartbeatIntervalMs);
    try {
      const stop = this.mode.range?.get(batch.partition)?.stop;
      const messages = stop === undefined ? batch.messages : batch.messages.filter((m) => Number(m.offset) < stop);
      for (let start = 0; start < messages.length; start += this.config.flushMaxMessages) {
        if (!isRunning() || isStale()) break;
        const chunk = messages.slice(start, start + this.config.flushMaxMessages);
        await this.limiter.wait(this.stats.messages);
        const startedAt = Date.now();
        this.stats.firstMessageAt ??= startedAt;
        await coalescer.submit({ topic: batch.topic, partition: batch.partition, messages: chunk, partitionCount: this.partitionCount });
        const last = chunk[chunk.length - 1]!.offset;
        resolveOffset(last);
        this.stats.lastMessageAt = Date.now();
        logger.debug(
          {
            partition: batch.partition,
            messages: chunk.length,
            ms: this.stats.lastMessageAt - startedAt,
            behind: Number(batch.highWatermark) - Number(last) - 1,
          },
          'flushed',
        );
        this.stats.recordChunk(
          chunk.length,
          (this.stats.lastMessageAt - startedAt) / 1000,
          chunk.map((m) => Number(m.timestamp)),
        );
        this.watch?.committed(batch.partition, Math.max(0, Number(batch.highWatermark) - Number(last) - 1));
        this.lastActivity = Date.now();
        this.mode.onProgress?.(this.stats.messages);
        if (stop !== undefined && Number(last) + 1 >= stop) this.partitionDone(batch.partition);
        await heartbeat();
      }
      if (stop !== undefined && messages.length === 0 && Number(batch.messages[0]?.offset ?? -1) >= stop) this.partitionDone(batch.partition);
    } catch (error) {
      throw this.asRejoin(error as Error, logger);
    } finally {
      clearInterval(keepAlive);
      this.inFlight -= 1;
      this.lastActivity = Date.now();
    }
  }

  /**
   * KafkaJS rejoins the group after a commit or heartbeat refused for group membership only when it sees
   * the broker's error itself; its retrier hands such an error on wrapped as not retriable, and the
   * member then stopped for good (exit 1). Nothing is lost by rejoining: the flush's effects are in
   * MySQL and its redelivery re-emits them. A member the coordinator no longer knows (removed after its
   * session ran out, or by a peer that judged it dead) rejoins as a new member, claiming nothing.
   */
  private asRejoin(error: Error, logger: Logger): Error {
    const cause = rootCause(error);
    const type = (cause as { type?: string }).type;
    if (type === undefined || !REJOIN_ERRORS.has(type)) return error;
    if (type === 'UNKNOWN_MEMBER_ID') {
      this.owned = new Map();
      this.crashed = true;
    }
    logger.warn({ err: cause }, 'the group refused this member its offsets; rejoining (the flush will be redelivered and re-emitted)');
    return cause;
  }

  private partitionDone(partition: number): void {
    this.pending.delete(partition);
    if (this.pending.size === 0) this.finishRange();
  }

  /** Resolves once the member has been in the group and had nothing to do for `seconds`. */
  async idleFor(seconds: number): Promise<void> {
    await this.untilIdle(seconds);
  }

  private async untilIdle(seconds: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<void>((resolve) => {
      timer = setInterval(() => {
        if (this.stopping || (this.joined && this.inFlight === 0 && Date.now() - this.lastActivity >= seconds * 1000)) resolve();
      }, 200);
    });
    try {
      await Promise.race([idle, this.failure]);
    } finally {
      clearInterval(timer);
    }
  }

  /** How long the member has had nothing to do, in ms: 0 while a batch is in hand or before it joined. */
  idleMs(): number {
    return this.joined && this.inFlight === 0 ? Date.now() - this.lastActivity : 0;
  }

  /** Finishes the batch in hand, commits it and leaves the group. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.consumer?.disconnect();
    this.reaper?.stop();
    await this.reaperAdmin?.disconnect();
    await this.lease?.stop();
    await this.publisher?.disconnect();
    await this.watch?.stop();
    await new Promise<void>((resolve) => (this.opsServer ? this.opsServer.close(() => resolve()) : resolve()));
  }
}

async function requestsPartitionCount(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
    return metadata!.partitions.length;
  } finally {
    await admin.disconnect();
  }
}

/** Errors about the member's place in the group, after which KafkaJS rejoins when it sees them (runner.js). */
const REJOIN_ERRORS = new Set(['UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'REBALANCE_IN_PROGRESS', 'NOT_COORDINATOR_FOR_GROUP']);

/** What KafkaJS's wrappers (retries exceeded, not retriable) wrap: the error our batch handler threw. */
function rootCause(error: Error): Error {
  let current: Error = error;
  while (current.name.startsWith('KafkaJS') && current.cause instanceof Error) current = current.cause;
  return current;
}
