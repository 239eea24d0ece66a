import { randomBytes } from 'node:crypto';
import { connect as netConnect, isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect } from 'node:tls';

import {
  type Admin,
  type ISocketFactory,
  type ITopicConfig,
  Kafka,
  type KafkaConfig,
  type KafkaMessage,
  type LogEntry,
  logLevel,
  type ProducerConfig,
} from 'kafkajs';
import type { Logger } from 'pino';

import { registerCompressionCodecs } from './compression-codecs.js';
import { RedemptionError } from './errors.js';

const PINO_LEVEL: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * `security`: TLS and SASL (lib/connections.ts `kafkaSecurity`); none for the local stack.
 * `requestTimeoutMs` must exceed the consumers' rebalance timeout: the coordinator may hold a SyncGroup
 * that long (see REQUEST_TIMEOUT_MS and patches/kafkajs+2.2.4.patch). `retries`: how often a failed
 * request or connection is tried again (a check that must answer quickly, such as `status`, takes few).
 */
export function createKafka(
  brokers: string[],
  clientId: string,
  logger: Logger,
  security: Pick<KafkaConfig, 'ssl' | 'sasl'> = {},
  requestTimeoutMs = 30000,
  retries = 8,
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
    socketFactory: noDelaySocket,
    retry: { initialRetryTime: 300, retries, maxRetryTime: 5000 },
    // KafkaJS's INFO lines are connection chatter; warnings and errors still reach the log.
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...rest } = entry.log;
      // KafkaJS logs every error response at ERROR before it retries ("coordinator is loading" at start);
      // only what it gives up on reaches us as a thrown error, so these are warnings.
      const level =
        entry.namespace === 'Connection' && entry.level === logLevel.ERROR ? connectionErrorLevel(message, rest.error) : (PINO_LEVEL[entry.level] ?? 'info');
      kafkaLogger[level]({ namespace: entry.namespace, ...rest }, message);
    },
  });
}

/**
 * A ListOffsets answered "not the leader" or "leader not available" is a partition whose leader is being
 * elected or loading it (a topic created a moment ago): `topicOffsets` and `createTopicsWithLeaders` ask
 * again, so it is not worth a warning in every command that creates topics. Other error responses are.
 */
function connectionErrorLevel(message: string, error: unknown): 'warn' | 'debug' {
  return message.startsWith('Response ListOffsets') && /not the leader|no leader/i.test(String(error)) ? 'debug' : 'warn';
}

/**
 * KafkaJS's own socket, with Nagle's algorithm off, as the Java client has it (TCP_NODELAY). KafkaJS
 * leaves it on, and it sends several requests on one connection at once (a produce per flush while
 * another is unanswered, fetches beside heartbeats and offset commits): with Nagle, a request written
 * while an earlier one is not yet acknowledged waits in the kernel for that acknowledgement, which the
 * broker may delay by up to 40 ms.
 */
export const noDelaySocket: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  const socket = ssl ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...ssl }, onConnect) : netConnect({ host, port }, onConnect);
  // KafkaJS's default factory sets the same keep-alive.
  socket.setKeepAlive(true, 60_000);
  socket.setNoDelay(true);
  return socket;
};

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

/** Where a group starts reading a partition of the topic (GroupOffsets). */
export interface GroupStart {
  partition: number;
  offset: string;
}

/**
 * Sets a consumer group's committed offsets in a topic, as KafkaJS's `admin.setOffsets` does (a member
 * joins the group, which must have no running member, seeks, commits and leaves), except for how long
 * its member waits before leaving: setOffsets' waits out a fetch of KafkaJS's default 5 s with every
 * partition paused, so each call took 5 s (`audit stats --since` 6.0 s on a quiet host, `redeem()`'s
 * start and every ranged replay 5 s longer than their work). Here the fetch waits 10 ms.
 */
export async function setGroupOffsets(kafka: Kafka, o: { groupId: string; topic: string; partitions: readonly GroupStart[] }): Promise<void> {
  if (o.partitions.length === 0) return;
  const consumer = kafka.consumer({ groupId: o.groupId, maxWaitTimeInMs: 10 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: o.topic, fromBeginning: true });
    const { state } = await consumer.describeGroup();
    if (state !== 'Empty' && state !== 'Dead' && state !== 'Unknown')
      throw new RedemptionError('GROUP_BUSY', `cannot set the offsets of consumer group ${o.groupId}: it has running members (state ${state})`);
    await new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.FETCH, () => void consumer.stop().then(resolve, reject));
      // A member that crashed (a broker gone past KafkaJS's retries) would never fetch, and a restarted one
      // has lost the seeks: either way the offsets are not set, and the caller is told so instead of waiting.
      consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
      consumer.run({ eachBatchAutoResolve: false, eachBatch: async () => {} }).catch(reject);
      // It reads nothing: the seeks are committed, then it leaves.
      consumer.pause([{ topic: o.topic }]);
      for (const { partition, offset } of o.partitions) consumer.seek({ topic: o.topic, partition, offset });
    });
  } finally {
    await consumer.disconnect();
  }
}

export interface TopicSpec {
  topic: string;
  partitions: number;
  /** Replicas per partition; the broker's default.replication.factor when absent. */
  replicationFactor?: number;
  configs?: Record<string, string>;
}

/** Errors of a partition whose leader is being elected or has not loaded it yet: asking again answers. */
const LEADER_IN_MOTION = new Set(['LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION']);

/** Errors a just-created topic answers with until every broker has its metadata and every partition a leader that answers. */
const TOPIC_NOT_READY = new Set(['UNKNOWN_TOPIC_OR_PARTITION', ...LEADER_IN_MOTION]);

export type TopicOffsets = Awaited<ReturnType<Admin['fetchTopicOffsets']>>;

/**
 * `admin.fetchTopicOffsets`, asked again while a partition's leader is in motion. KafkaJS gives up at
 * the first NOT_LEADER_FOR_PARTITION, which a KRaft broker answers for a moment after a topic's
 * metadata already names it leader (the partition is not loaded yet), and during a leader election.
 * Any other error, and one still answered after `timeoutMs`, is thrown as it came.
 */
export async function topicOffsets(admin: Admin, topic: string, timeoutMs = 30_000): Promise<TopicOffsets> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (error) {
      const type = (error as { type?: string }).type;
      if (type === undefined || !LEADER_IN_MOTION.has(type) || Date.now() + wait > deadline) throw error;
    }
    await sleep(wait);
  }
}

/**
 * Creates `topics` and waits until every partition has a leader that answers for it (ListOffsets).
 * KafkaJS's own `waitForLeaders` gives up at the first UNKNOWN_TOPIC_OR_PARTITION, which a KRaft broker
 * answers for a moment after creating the topic when it is busy, as it answers NOT_LEADER_FOR_PARTITION
 * while the leader it names loads the partition; here those answers mean "not yet", until `timeoutMs`.
 */
export async function createTopicsWithLeaders(admin: Admin, topics: ITopicConfig[], timeoutMs = 30000): Promise<void> {
  await admin.createTopics({ waitForLeaders: false, topics });
  const names = topics.map((t) => t.topic);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let notReady: string;
    try {
      const { topics: found } = await admin.fetchTopicMetadata({ topics: names });
      const leaderless = found.filter((t) => t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0));
      // A leader named in the metadata may not have loaded its partition yet: ready once it answers.
      if (leaderless.length === 0) {
        for (const name of names) await admin.fetchTopicOffsets(name);
        return;
      }
      notReady = `partitions without a leader in ${leaderless.map((t) => t.name).join(', ')}`;
    } catch (error) {
      const type = (error as { type?: string }).type;
      if (type === undefined || !TOPIC_NOT_READY.has(type)) throw error;
      notReady = type;
    }
    if (Date.now() > deadline) {
      throw new RedemptionError('TOPICS_NOT_READY', `created ${names.join(', ')}, but after ${timeoutMs / 1000} s the broker still answers ${notReady}`);
    }
    await sleep(100);
  }
}

/**
 * Creates the topics that do not exist yet. An existing topic keeps its partition count: changing it
 * would move coupons between partitions and break their order, so a mismatch is only reported.
 */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[], logger: Logger): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length > 0) {
    await createTopicsWithLeaders(
      admin,
      missing.map((s) => ({
        topic: s.topic,
        numPartitions: s.partitions,
        replicationFactor: s.replicationFactor ?? -1,
        configEntries: Object.entries(s.configs ?? {}).map(([name, value]) => ({ name, value })),
      })),
    );
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
  /**
   * partition → where the group is done up to: its committed offset, or the log's start where nothing is
   * committed or retention removed the committed offset (messages no member can read are not its lag)
   */
  committed: Map<number, number>;
  /** messages not yet committed by the group, over all partitions */
  lag: number;
}

/**
 * How far a consumer group has come through a topic, counted as `redeem status` counts it
 * (`partitionLags`): from the log's start where the group committed nothing or retention removed what
 * it committed. Counted from offset 0 instead, a partition whose messages retention had removed all of
 * (a quiet partition, or a replay's new group) stayed lagging for ever: nobody commits where there is
 * nothing to read, so `redeem drain` never ended and the stall watch held /readyz at 503.
 */
export async function groupProgress(admin: Admin, groupId: string, topic: string): Promise<GroupProgress> {
  const lags = await partitionLags(admin, groupId, topic, 30_000);
  return {
    ends: new Map(lags.map((l) => [l.partition, l.end])),
    committed: new Map(lags.map((l) => [l.partition, l.end - l.lag])),
    lag: lags.reduce((sum, l) => sum + Math.max(0, l.lag), 0),
  };
}

/** One partition's end, the group's committed offset there (null: none) and the messages between. */
export interface PartitionLag {
  partition: number;
  end: number;
  committed: number | null;
  lag: number;
}

/**
 * Each partition's lag as `redeem status` and the dashboard show it, in partition order: from the committed
 * offset, or from the log's start where nothing is committed or retention removed the committed offset.
 * The end offsets are asked again for up to `timeoutMs` while a leader moves.
 */
export async function partitionLags(admin: Admin, groupId: string, topic: string, timeoutMs: number): Promise<PartitionLag[]> {
  const [ends, [committed]] = await Promise.all([topicOffsets(admin, topic, timeoutMs), admin.fetchOffsets({ groupId, topics: [topic] })]);
  return ends
    .sort((a, b) => a.partition - b.partition)
    .map((e) => {
      const at = Number(committed?.partitions.find((c) => c.partition === e.partition)?.offset ?? -1);
      return { partition: e.partition, end: Number(e.high), committed: at < 0 ? null : at, lag: Number(e.high) - Math.max(at, Number(e.low)) };
    });
}

/** Offsets [from, to) of one partition. */
export interface OffsetRange {
  partition: number;
  from: number;
  to: number;
}

/** Messages of one partition, in offset order, all inside the range asked for. */
export interface TopicChunk {
  partition: number;
  messages: KafkaMessage[];
}

/**
 * What each partition of `topic` holds now, from its first offset to its end (or to `stops`, where
 * given); partitions with nothing in that span are left out.
 */
export async function currentRanges(kafka: Kafka, topic: string, stops?: ReadonlyMap<number, number>): Promise<OffsetRange[]> {
  return withAdmin(kafka, (admin) => topicRanges(admin, topic, stops));
}

/** `currentRanges` through an admin client the caller holds (one that polls keeps its connection). */
export async function topicRanges(admin: Admin, topic: string, stops?: ReadonlyMap<number, number>): Promise<OffsetRange[]> {
  return (await topicOffsets(admin, topic))
    .map((o) => ({ partition: o.partition, from: Number(o.low), to: Math.min(Number(o.high), stops?.get(o.partition) ?? Number.MAX_SAFE_INTEGER) }))
    .filter((r) => r.to > r.from);
}

export interface ReadRangesOptions {
  kafka: Kafka;
  topic: string;
  ranges: readonly OffsetRange[];
  /** Called with each partition's messages in offset order; the next batch waits for it. */
  onChunk(chunk: TopicChunk): Promise<void> | void;
  /** Partitions read at once. @defaultValue 1 */
  partitionsConsumedConcurrently?: number;
  /**
   * How long the read may go without a message of its ranges arriving (time spent in `onChunk` does not
   * count) before it fails with READ_STALLED: a range whose messages never arrive must not hang the
   * caller. @defaultValue 60000
   */
  stallTimeoutMs?: number;
  /** Once it settles, the read ends after the chunk in hand, the rest unread (Ctrl-C). @defaultValue never */
  abandon?: Promise<unknown>;
}

/**
 * The project's one bounded topic reader (the CLI, verify, the bench, the chaos run and the tests all
 * read through it): [from, to) of each listed partition, under a throwaway consumer group that commits
 * nothing. It returns once every range is read, each message handed over once; a partition whose range
 * has gone (retention) ends at the first offset past it. It fails with READ_STALLED when no message of
 * its ranges arrives for `stallTimeoutMs`, and at once when the consumer stops for good.
 *
 * KafkaJS has no assign() without a group, and a seek only holds for the group member it was made in:
 * the reader seeks each time its consumer has joined (GROUP_JOIN), to the next offset it has not handed
 * over yet. A seek right after run() resolved failed whenever the first join had failed and the
 * consumer was restarting ("Consumer group was not initialized"), and a restarted or rejoined member,
 * with nothing committed, would start again from the beginning of the partition.
 */
export async function readRanges(o: ReadRangesOptions): Promise<void> {
  const ranges = o.ranges.filter((r) => r.to > r.from);
  if (ranges.length === 0) return;
  const stallTimeoutMs = o.stallTimeoutMs ?? 60_000;
  const ends = new Map(ranges.map((r) => [r.partition, r.to]));
  /** partition → the next offset to hand over */
  const next = new Map(ranges.map((r) => [r.partition, r.from]));
  const remaining = new Set(ranges.map((r) => r.partition));
  const consumer = o.kafka.consumer({ groupId: `redeem-read-${randomBytes(4).toString('hex')}`, maxWaitTimeInMs: 100, maxBytes: 8 << 20 });
  let finish: () => void = () => {};
  let fail: (e: Error) => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  let lastError: Error | undefined;
  let lastArrival = Date.now();
  let handing = false;
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    for (const partition of payload.memberAssignment[o.topic] ?? [])
      if (remaining.has(partition)) consumer.seek({ topic: o.topic, partition, offset: String(next.get(partition)) });
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    lastError = payload.error;
    if (!payload.restart) fail(new RedemptionError('CONSUMER_FAILED', `reading ${o.topic} failed: ${payload.error.message}`, { cause: payload.error }));
  });
  const watchdog = setInterval(
    () => {
      if (handing || Date.now() - lastArrival < stallTimeoutMs) return;
      const left = [...remaining].map((p) => `${p} (offsets ${next.get(p)} to ${ends.get(p)! - 1})`).join(', ');
      const why = lastError ? `; the reader's last error: ${lastError.message}` : '';
      fail(
        new RedemptionError('READ_STALLED', `reading ${o.topic}: no message arrived for ${stallTimeoutMs / 1000} s; not read yet: partition ${left}${why}`, {
          retriable: true,
          cause: lastError,
        }),
      );
    },
    Math.min(1000, stallTimeoutMs / 4),
  );
  // Failing ends the read even while connect() or the first join is still under way.
  done.catch(() => undefined);
  o.abandon?.then(finish, finish);
  const start = async () => {
    await consumer.connect();
    await consumer.subscribe({ topic: o.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: o.partitionsConsumedConcurrently ?? 1,
      eachBatch: async ({ batch }) => {
        const end = ends.get(batch.partition);
        if (end === undefined || !remaining.has(batch.partition)) return;
        // A batch fetched before the seek took effect starts earlier: only what was not handed over yet.
        const from = next.get(batch.partition)!;
        const inside = batch.messages.filter((m) => Number(m.offset) >= from && Number(m.offset) < end);
        if (inside.length > 0) {
          handing = true;
          try {
            await o.onChunk({ partition: batch.partition, messages: inside });
          } finally {
            handing = false;
            lastArrival = Date.now();
          }
          next.set(batch.partition, Number(inside[inside.length - 1]!.offset) + 1);
        }
        const last = batch.messages[batch.messages.length - 1];
        if (last && Number(last.offset) >= end - 1) remaining.delete(batch.partition);
        if (remaining.size === 0) finish();
      },
    });
  };
  try {
    const started = start();
    started.catch(() => undefined);
    await Promise.race([started, done]);
    await done;
  } finally {
    clearInterval(watchdog);
    await consumer.disconnect();
  }
}

/**
 * Waits until `topic` holds at least `count` messages (polling its offsets; `timeoutMs` bounds the wait,
 * none by default), then reads all it holds by then through `readRanges`.
 */
export async function readTopicFromStart(
  kafka: Kafka,
  topic: string,
  count: number,
  onChunk: (chunk: TopicChunk) => Promise<void> | void,
  timeoutMs = Number.POSITIVE_INFINITY,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ranges = await currentRanges(kafka, topic);
    const held = ranges.reduce((n, r) => n + r.to - r.from, 0);
    if (held >= count) return readRanges({ kafka, topic, ranges, onChunk });
    if (Date.now() >= deadline) throw new Error(`only ${held} of ${count} messages on ${topic} after ${timeoutMs} ms`);
    await sleep(200);
  }
}
