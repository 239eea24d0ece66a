import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { hostname } from 'node:os';

import type { Admin, Consumer, ConsumerCrashEvent, ConsumerGroupJoinEvent, ConsumerRunConfig, EachBatchPayload, Kafka } from 'kafkajs';
import type { Knex } from 'knex';
import type { Logger } from 'pino';

import type { Config } from '../lib/config.js';
import { kafkaSecurity } from '../lib/connections.js';
import { cachePrefix, databaseIdentity } from '../lib/database-identity.js';
import { RedemptionError } from '../lib/errors.js';
import { FaultInjector } from '../lib/faults.js';
import { createKafka, setGroupOffsets, withAdmin } from '../lib/kafka.js';
import { RateLimiter } from '../lib/progress.js';
import type { RedisClient } from '../lib/redis.js';
import type { Decoder, SchemaRegistryClient } from '../schemas/registry.js';
import type { RedemptionDecided, RedemptionRequested } from '../schemas/types.js';
import { BatchProcessor, type FlushTimings } from './batch-processor.js';
import { ConsumerStats } from './consumer-stats.js';
import { DecisionCache } from './decision-cache.js';
import { DecisionPublisher } from './decision-publisher.js';
import { decodeBatch, type DecodedBatch } from './decode.js';
import { fetchControl } from './fetch-control.js';
import { FlushCoalescer, type FlushedChunk, type Rewind } from './flush-coalescer.js';
import {
  GhostReaper,
  type GhostReaperOptions,
  leaseKey,
  type LivenessTiming,
  memberClientId,
  MemberLease,
  memberName,
  type PipelineIdentity,
} from './member-liveness.js';
import { OffsetCommitter } from './offset-committer.js';
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
 * One member of the consumer group, as a pipeline: KafkaJS's fetch loop hands each partition's batch
 * over, the member decodes it and queues it (flush-coalescer.ts) and goes on fetching at once, so the
 * next records are read and decoded while the current flush waits on MySQL, Redis and Kafka; flushes
 * take what is queued. It commits offsets itself, in the background (offset-committer.ts), and only
 * after a chunk's effects are in MySQL and its audit records are acknowledged, so a crash at any point
 * redelivers rather than loses. The fetch loop never waits on a flush, so heartbeats go on during long
 * work (a big flush, a retry loop waiting for MySQL) and a slow flush does not cost a rebalance.
 */
export class RedemptionConsumer {
  readonly stats = new ConsumerStats();
  private consumer: Consumer | null = null;
  private publisher: DecisionPublisher | null = null;
  private stopping = false;
  private joined = false;
  /** Crashed since the last join: the rejoin counts as a rebalance. */
  private crashed = false;
  private lastActivity = Date.now();
  private coalescer: FlushCoalescer | null = null;
  private committer: OffsetCommitter | null = null;
  /** A flush failed: thrown into KafkaJS by the next batch handed over (it restarts or stops the member). */
  private flushFailure: Error | null = null;
  /** Messages queued so far (the replay's rate limit paces them). */
  private queued = 0;
  private readonly highWatermarks = new Map<number, number>();
  private owned: Ownership = new Map();
  private opsServer: Server | null = null;
  /** Partitions of the requests topic, from its metadata: the partition contract is checked against it. */
  private partitionCount: number | undefined;
  /** How the group consumer runs: kept to run it again after a crash KafkaJS does not restart from. */
  private runConfig: ConsumerRunConfig | null = null;
  /** A run again is scheduled (after a crash while no broker answered). */
  private rerunning = false;
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

  /**
   * Starts the member's services in their start order: its lease (before joining: from its first
   * JoinGroup on, peers may judge it by the lease), the progress watch, the ops server, the pipeline
   * (processor, committer, coalescer), the group consumer, the range's start offsets, the dead-member
   * sweep, and last the fetch loop.
   */
  async start(): Promise<void> {
    const { config, deps } = this;
    const logger = deps.logger.child({ consumerId: this.consumerId });
    this.stats.watchPauses();
    const timing: LivenessTiming = { intervalMs: config.heartbeatIntervalMs };
    // Which pipeline this member works for: carried in its client id, so that peers judge only their own.
    const identity: PipelineIdentity = { keyPrefix: config.redisKeyPrefix, database: await databaseIdentity(deps.knex) };
    const name = memberName(this.consumerId, identity);
    await this.startLease(name, timing, logger);
    await this.startWatch(logger);
    await this.startOps(logger);
    // Requests are only read (any registered writer schema, resolved into ours); audit records are written.
    const requestDecoder = deps.registry.decoderFor<RedemptionRequested>('requested');
    this.startPipeline(await this.createProcessor(requestDecoder, logger), logger);
    const consumer = this.createGroupConsumer(name, logger);
    this.consumer = consumer;
    this.partitionCount = await requestsPartitionCount(deps.kafka, config.redemptionTopic);
    consumer.on(consumer.events.GROUP_JOIN, (event) => this.joinedGroup(event.payload, logger));
    consumer.on(consumer.events.CRASH, (event) => this.crashedOut(event.payload, logger));
    consumer.on(consumer.events.HEARTBEAT, () => this.heartbeatAccepted(logger));
    consumer.on(consumer.events.FETCH, () => this.stats.recordFetch());
    await this.seekToRange();
    await this.startReaper(identity, name, timing, logger);
    await consumer.connect();
    await consumer.subscribe({ topic: config.redemptionTopic, fromBeginning: true });
    this.runConfig = {
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: config.partitionsConsumedConcurrently,
      eachBatch: (payload) => this.handleBatch(payload, requestDecoder, logger),
    };
    await consumer.run(this.runConfig);
  }

  private async startLease(name: string, timing: LivenessTiming, logger: Logger): Promise<void> {
    const { config, deps } = this;
    this.lease = new MemberLease({ redis: deps.redis, key: leaseKey(config.redisKeyPrefix, name), timing, logger });
    await this.lease.start();
  }

  private async startWatch(logger: Logger): Promise<void> {
    const { config, deps } = this;
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
  }

  /** /metrics, /healthz and /readyz: ready while in the group, holding partitions and not stalled. */
  private async startOps(logger: Logger): Promise<void> {
    const { config } = this;
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
  }

  /** The decide-and-write stage (decision cache, store, audit publisher) that flushes run. */
  private async createProcessor(decoder: Decoder<RedemptionRequested>, logger: Logger): Promise<BatchProcessor> {
    const { config, deps } = this;
    const decidedCodec = await deps.registry.codecFor<RedemptionDecided>('decided', config.auditTopic);
    this.publisher = await DecisionPublisher.connect(deps.kafka, decidedCodec, config.auditTopic, config.redemptionTopic, this.consumerId);
    return new BatchProcessor({
      decoder,
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
  }

  /** The background committer (none in a dry run) and the coalescer that queues batches for flushes. */
  private startPipeline(processor: BatchProcessor, logger: Logger): void {
    const { config } = this;
    this.committer = this.mode.dryRun
      ? null
      : new OffsetCommitter({
          commit: (offsets) => this.consumer!.commitOffsets(offsets),
          owns: (topic, partition) => this.owns(topic, partition),
          intervalMs: config.offsetCommitIntervalMs,
          logger,
          onCommitted: (moved, flushes) => this.committed(moved, flushes),
          onError: (error) => this.commitRefused(error, logger),
        });
    const fetching = fetchControl(
      () => this.consumer!,
      (what, error) => logger.debug({ err: error, what }, 'the consumer is restarting: fetching is set again at its next join'),
    );
    this.coalescer = new FlushCoalescer({
      processor,
      committer: this.committer,
      maxMessages: config.flushMaxMessages,
      concurrency: config.flushConcurrency,
      queueMaxMessages: config.fetchQueueMaxMessages,
      pause: fetching.pause,
      resume: fetching.resume,
      owns: (topic, partition) => this.owns(topic, partition),
      onFlushed: (chunks, timings, seconds) => this.flushed(chunks, timings, seconds, logger),
      onFailed: (error, rewinds) => this.flushFailed(error, rewinds, logger),
      stages: this.stats.stages,
    });
  }

  /**
   * The member's own client, whose id names its process and pipeline: the coordinator reports it for
   * every member, in every group state, which is how peers find its lease (member-liveness.ts).
   */
  private createGroupConsumer(name: string, logger: Logger): Consumer {
    const { config, deps } = this;
    const memberKafka = createKafka(config.kafkaBrokers, memberClientId(name), deps.logger, kafkaSecurity(config), config.requestTimeoutMs);
    return memberKafka.consumer({
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
  }

  private joinedGroup(payload: ConsumerGroupJoinEvent['payload'], logger: Logger): void {
    const { config, deps } = this;
    // Partitions added to the topic cause a rejoin: take the new count (see partition-contract.ts).
    requestsPartitionCount(deps.kafka, config.redemptionTopic).then(
      (count) => (this.partitionCount = count),
      (error: unknown) => logger.warn({ err: error }, 'could not refresh the partition count of the requests topic; keeping the last one'),
    );
    if (this.joined || this.crashed) this.stats.recordRebalance();
    // The project's KafkaJS patch adds the generation to the event.
    const { generationId } = payload as { generationId?: number };
    if (typeof generationId === 'number') this.stats.recordGeneration(generationId);
    this.crashed = false;
    this.joined = true;
    this.lastActivity = Date.now();
    this.owned = new Map(Object.entries(payload.memberAssignment));
    this.watch?.assigned(payload.memberAssignment[config.redemptionTopic] ?? []);
    this.reassigned(logger);
    logger.info({ assignment: payload.memberAssignment, protocol: payload.groupProtocol, rebalances: this.stats.rebalances }, 'joined the group');
  }

  /** The coordinator accepted a heartbeat: the member is in the group's current generation. */
  private heartbeatAccepted(logger: Logger): void {
    if (this.coalescer?.release()) logger.warn('the group kept this member in its generation and no rejoin came; flushing what it holds again');
  }

  private crashedOut(payload: ConsumerCrashEvent['payload'], logger: Logger): void {
    const { error, restart } = payload;
    logger.error({ err: error, restart }, 'consumer crashed');
    // KafkaJS restarts under a new member id: the partitions are no longer ours, and a stale claim in
    // the next join metadata would make the sticky assignor take them from their new owner.
    this.leftGroup();
    this.joined = false;
    if (restart || this.stopping) return;
    const cause = rootCause(error);
    if (BROKERS_UNREACHABLE.has(cause.name)) {
      this.runAgain(cause, logger);
      return;
    }
    // KafkaJS restarts only after retriable errors; after any other it leaves the process alive and
    // consuming nothing. Fail loudly instead, so that the process exits and is restarted.
    this.fail(
      new RedemptionError('CONSUMER_FAILED', `the consumer stopped on an error it cannot recover from: ${cause.name}: ${cause.message}`, { cause: error }),
    );
  }

  /**
   * KafkaJS gives up for good when no broker answered its look-up of the group's coordinator: "Failed to
   * find group coordinator" is not retriable to it (the project's patch throws a refusal, such as an
   * authorization error, as itself, so this one means that no broker answered). A broker that restarts
   * for longer than KafkaJS's retries is such a case, and it heals: the member connects and runs again,
   * every RERUN_DELAY_MS, until a broker answers (each failed attempt comes back here as a crash).
   * Seen: the broker-restart outage test's consumer exited with CONSUMER_FAILED in CI.
   */
  private runAgain(cause: Error, logger: Logger): void {
    if (this.rerunning || this.stopping || !this.consumer || !this.runConfig) return;
    this.rerunning = true;
    logger.warn({ err: cause, inMs: RERUN_DELAY_MS }, 'no broker answered; running the consumer again');
    const consumer = this.consumer;
    const runConfig = this.runConfig;
    setTimeout(() => {
      this.rerunning = false;
      if (this.stopping) return;
      consumer
        .connect()
        .then(() => consumer.run(runConfig))
        .catch((error: unknown) => {
          // Not connected (no broker yet): try again. A crash of the run itself comes back by its event.
          logger.warn({ err: error }, 'could not connect the consumer again');
          this.runAgain(error instanceof Error ? error : new Error(String(error)), logger);
        });
    }, RERUN_DELAY_MS);
  }

  /** A run over a range starts its group at the range's start offsets. */
  private async seekToRange(): Promise<void> {
    const { range } = this.mode;
    if (!range) return;
    const { config } = this;
    await setGroupOffsets(this.deps.kafka, {
      groupId: config.consumerGroup,
      topic: config.redemptionTopic,
      partitions: [...range].map(([partition, r]) => ({ partition, offset: String(r.start) })),
    });
  }

  /** The dead-member sweep (member-liveness.ts), on an admin client of its own for the member's life. */
  private async startReaper(identity: PipelineIdentity, name: string, timing: LivenessTiming, logger: Logger): Promise<void> {
    const { config, deps } = this;
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
  }

  /**
   * A partition's batch from KafkaJS: decoded and queued for a flush, its offsets resolved (KafkaJS's
   * next fetch starts after it), and back to fetching. Nothing here waits on a flush.
   */
  private async handleBatch(payload: EachBatchPayload, decoder: Decoder<RedemptionRequested>, logger: Logger): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    this.throwFlushFailure();
    if (this.stopping || !isRunning() || isStale()) return;
    const fetchedAt = Date.now();
    this.stats.firstMessageAt ??= fetchedAt;
    const stop = this.mode.range?.get(batch.partition)?.stop;
    const messages = stop === undefined ? batch.messages : batch.messages.filter((m) => Number(m.offset) < stop);
    if (messages.length === 0) {
      if (stop !== undefined && Number(batch.messages[0]?.offset ?? -1) >= stop) this.partitionDone(batch.partition);
      return;
    }
    const stages = this.stats.stages;
    for (const m of messages) stages.observe('kafka', (fetchedAt - Number(m.timestamp)) / 1000);
    await this.limiter.wait(this.queued);
    const started = performance.now();
    let decoded: DecodedBatch | null = null;
    try {
      decoded = await decodeBatch(messages, batch.topic, batch.partition, decoder, this.config.maxMessageBytes, this.partitionCount);
    } catch (error) {
      // The registry did not answer, say: the flush decodes the chunk again, retrying.
      logger.warn({ err: error, partition: batch.partition }, 'could not decode a batch as fetched; its flush will retry');
    }
    stages.observe('decode', (performance.now() - started) / 1000, messages.length);
    // A flush may have failed, or a rejoin begun, while decoding: then the batch is fetched again.
    this.throwFlushFailure();
    if (this.stopping || !isRunning() || isStale()) return;
    this.highWatermarks.set(batch.partition, Number(batch.highWatermark));
    this.coalescer!.enqueue({
      topic: batch.topic,
      partition: batch.partition,
      messages,
      decoded,
      partitionCount: this.partitionCount,
      highWatermark: Number(batch.highWatermark),
      fetchedAt,
      decodedAt: Date.now(),
    });
    this.queued += messages.length;
    this.lastActivity = Date.now();
    resolveOffset(messages[messages.length - 1]!.offset);
    try {
      await heartbeat();
    } catch (error) {
      const cause = rootCause(error as Error);
      if (REJOIN_ERRORS.has((cause as { type?: string }).type ?? '')) {
        // Before rejoining, finish the flushes in hand and commit them, as a member that finishes its
        // batch does: the partitions that move on to other members are then not redelivered.
        await this.coalescer!.settle(Math.min(this.config.rebalanceTimeoutMs / 2, 10_000));
        await this.committer?.commitNow().catch((e: unknown) => logger.warn({ err: e }, 'could not commit the flushed offsets before rejoining'));
      }
      throw this.asRejoin(error as Error, logger);
    }
  }

  private owns(topic: string, partition: number): boolean {
    return this.owned.get(topic)?.includes(partition) ?? false;
  }

  /**
   * The member is out of the group (crashed, or no longer known to the coordinator) and rejoins as a new
   * member: it owns nothing until that join. The offsets it has not committed are dropped now, not at the
   * join: another member may own a partition in between and commit further, and an offset kept from
   * before would move the group back behind it if the join gave the partition back. What it holds stays
   * until the join (reassigned): KafkaJS may still hand over the rest of a fetch, and dropping the chunks
   * queued before it would let a flush decide those later messages ahead of the dropped ones (seen: a
   * refund decided before its redemption in `member-liveness.test.ts`).
   */
  private leftGroup(): void {
    this.owned = new Map();
    this.crashed = true;
    this.committer?.retainOnly();
  }

  /** After a join: what is held of partitions kept is fetched on from where it ends; the rest is dropped. */
  private reassigned(logger: Logger): void {
    this.committer?.retainOnly();
    for (const at of this.coalescer?.reassigned() ?? []) this.seek(at, logger);
  }

  private seek(at: Rewind, logger: Logger): void {
    try {
      this.consumer!.seek({ topic: at.topic, partition: at.partition, offset: String(at.offset) });
    } catch (error) {
      // Not in a group now (restarting): the next join fetches from the committed offset, which is at or
      // before `at` (offsets are committed only for flushed messages), so nothing is skipped.
      logger.warn({ err: error, ...at }, 'could not move the fetch position; fetching from the committed offset');
    }
  }

  private flushed(chunks: readonly FlushedChunk[], timings: FlushTimings, seconds: number, logger: Logger): void {
    const { stats } = this;
    const now = Date.now();
    stats.stages.observe('redis', timings.redisMs / 1000, timings.messages);
    stats.stages.observe('mysql', timings.mysqlMs / 1000, timings.messages);
    stats.stages.observe('audit', timings.auditMs / 1000, timings.messages);
    stats.recordFlush(
      timings.messages,
      seconds,
      chunks.flatMap((c) => c.createTimes),
      now,
    );
    stats.lastMessageAt = now;
    this.lastActivity = now;
    logger.debug({ partitions: chunks.map((c) => c.partition), messages: timings.messages, ms: Math.round(seconds * 1000) }, 'flushed');
    this.mode.onProgress?.(stats.messages);
    for (const c of chunks) {
      // A dry run commits nothing: its progress is what it has read.
      if (!this.committer) this.watch?.committed(c.partition, Math.max(0, c.highWatermark - c.nextOffset));
      const stop = this.mode.range?.get(c.partition)?.stop;
      if (stop !== undefined && c.nextOffset >= stop) this.partitionDone(c.partition);
    }
  }

  private committed(
    moved: ReadonlyMap<string, { topic: string; partition: number; offset: number }>,
    flushes: readonly { at: number; messages: number }[],
  ): void {
    const now = Date.now();
    for (const f of flushes) this.stats.stages.observe('commit', (now - f.at) / 1000, f.messages);
    for (const { partition, offset } of moved.values()) this.watch?.committed(partition, Math.max(0, (this.highWatermarks.get(partition) ?? offset) - offset));
    this.lastActivity = now;
  }

  /** A background commit refused for the member's place in the group: KafkaJS's heartbeat rejoins. */
  private commitRefused(error: unknown, logger: Logger): void {
    const cause = rootCause(error as Error);
    // The rejoin is as a new member, claiming nothing (see asRejoin).
    if ((cause as { type?: string }).type === 'UNKNOWN_MEMBER_ID') this.leftGroup();
    logger.debug({ err: cause }, 'offset commit refused');
  }

  private flushFailed(error: unknown, rewinds: readonly Rewind[], logger: Logger): void {
    if (this.stopping) return;
    logger.error({ err: error, partitions: rewinds.map((r) => r.partition) }, 'a flush failed; its partitions are fetched again from the failed chunk');
    for (const at of rewinds) this.seek(at, logger);
    this.flushFailure = error instanceof Error ? error : new Error(String(error));
  }

  private throwFlushFailure(): void {
    const error = this.flushFailure;
    if (error === null) return;
    this.flushFailure = null;
    throw error;
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
    if (type === 'UNKNOWN_MEMBER_ID') this.leftGroup();
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
        if (this.stopping || this.idleMs() >= seconds * 1000) resolve();
      }, 200);
    });
    try {
      await Promise.race([idle, this.failure]);
    } finally {
      clearInterval(timer);
    }
  }

  /** How long the member has had nothing to do, in ms: 0 while it holds work or offsets to commit, or before it joined. */
  idleMs(): number {
    const busy = !(this.coalescer?.idle ?? true) || (this.committer?.hasPending() ?? false);
    return this.joined && !busy ? Date.now() - this.lastActivity : 0;
  }

  /** Finishes the flushes in hand (what is only queued is left for the next owner), commits them and leaves the group. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    // Its figures stay readable for the summary; only the sampling stops.
    this.stats.pauses?.stop();
    await this.coalescer?.close();
    this.committer?.close();
    await this.committer
      ?.commitNow()
      .catch((error: unknown) =>
        this.deps.logger.warn({ err: error, consumerId: this.consumerId }, 'could not commit the last flushed offsets; they will be redelivered'),
      );
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
  return withAdmin(kafka, async (admin) => {
    const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
    return metadata!.partitions.length;
  });
}

/** KafkaJS's errors for brokers that did not answer: a crash with one of them heals once a broker is back. */
const BROKERS_UNREACHABLE = new Set(['KafkaJSGroupCoordinatorNotFound', 'KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSBrokerNotFound']);
const RERUN_DELAY_MS = 1000;

/** Errors about the member's place in the group, after which KafkaJS rejoins when it sees them (runner.js). */
const REJOIN_ERRORS = new Set(['UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'REBALANCE_IN_PROGRESS', 'NOT_COORDINATOR_FOR_GROUP']);

/** What KafkaJS's wrappers (retries exceeded, not retriable) wrap: the error our batch handler threw. */
function rootCause(error: Error): Error {
  let current: Error = error;
  while (current.name.startsWith('KafkaJS') && current.cause instanceof Error) current = current.cause;
  return current;
}
