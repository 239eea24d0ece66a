/**
 * One consumer running while requests arrive; the latency, sustained and checkout stages' measurement.
 * `withConsumer` starts it, lets the caller put requests on the topic, and waits until every one is
 * decided; `loadRun` produces at a fixed rate. Latency is read afterwards from the two topics (a
 * request's CreateTime to its audit record's); with `sample`, the group's progress is also sampled every
 * second.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import type { Admin } from 'kafkajs';

import type { Config } from '../../lib/config.js';
import { groupProgress } from '../../lib/kafka.js';
import { RateLimiter } from '../../lib/progress.js';
import type { Runtime } from '../../lib/runtime.js';
import { RedemptionProducer } from '../../producers/redemption-producer.js';
import type { RedemptionDecided, RedemptionRequested } from '../../schemas/types.js';
import { ConsumerProcess } from '../../scripts/harness/consumer-process.js';
import { type ConsumerSummary, parseConsumerSummary } from '../consumer-summary.js';
import { type CreateTimes, createTimes, endToEndLatency, type LatencySummary } from '../latency.js';
import { sampleEverySecond, type SustainedSample } from '../sustained.js';

export interface LoadRunResult {
  summary: { achievedPerSecond: number; keptUp: boolean; drainAfterSeconds: number } & LatencySummary;
  samples: SustainedSample[];
  /** The consumer's own account: its CPU, and its latency end to end and by stage. */
  consumer: ConsumerSummary;
}

export async function committedTotal(admin: Admin, groupId: string, topic: string): Promise<number> {
  const { committed } = await groupProgress(admin, groupId, topic);
  return [...committed.values()].reduce((sum, offset) => sum + offset, 0);
}

/** Messages on the topic (its partitions' end offsets, added up). */
export async function topicTotal(admin: Admin, topic: string): Promise<number> {
  return (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);
}

export interface ConsumedRun<T> {
  /** what `drive` returned */
  value: T;
  /** messages on the requests topic once `drive` was done: every one decided */
  total: number;
  /** seconds from the end of `drive` until the group had committed every message */
  drainAfterSeconds: number;
  consumer: ConsumerSummary;
}

/** Long enough for a consumer to join its group on a busy host; past it the stage fails. */
const JOIN_DEADLINE_MS = 60_000;
/** Long enough for a stopped consumer to finish its flush in hand and leave; past it the stage fails. */
const STOP_DEADLINE_MS = 60_000;

/**
 * One consumer process in `c`'s group around `drive`, which puts requests on `c`'s requests topic; then
 * waits until the group has committed every message on the topic, and stops the consumer (SIGTERM: it
 * prints its summary). A consumer that exits before that, or a drain past its deadline (a minute plus a
 * millisecond per request), fails the run with what the consumer said, rather than hanging. The stage
 * decides when the work is done, not the consumer: with `--exit-when-idle 3` it left while the load was
 * still coming whenever the load paused for 3 s (a busy host's smoke run, 36 of 160 requests decided).
 */
export async function withConsumer<T>(
  rt: Runtime,
  c: Config,
  env: Record<string, string>,
  drive: (admin: Admin) => Promise<T>,
  /** runs once every request is decided, while the admin client is still connected */
  afterDrain: () => Promise<void> = async () => {},
): Promise<ConsumedRun<T>> {
  const consumer = new ConsumerProcess({ ...process.env, ...env });
  let exitedEarly = false;
  void consumer.exited.then(() => (exitedEarly = true));
  const failed = (what: string) => new Error(`${what}; the consumer's last words: ${consumer.stderr.slice(-600) || '(none)'}`);
  const admin = rt.kafka().admin();
  await admin.connect();
  try {
    await untilStable(admin, c.consumerGroup, () => exitedEarly, failed);
    const value = await drive(admin);
    const endedAt = Date.now();
    const total = await topicTotal(admin, c.redemptionTopic);
    const deadline = endedAt + 60_000 + total;
    for (let committed = 0; (committed = await committedTotal(admin, c.consumerGroup, c.redemptionTopic)) < total; await sleep(50)) {
      if (exitedEarly) throw failed(`the consumer exited with ${committed} of ${total} requests committed`);
      if (Date.now() > deadline)
        throw failed(`only ${committed} of ${total} requests decided ${Math.round((Date.now() - endedAt) / 1000)} s after the load ended`);
    }
    const drainAfterSeconds = (Date.now() - endedAt) / 1000;
    await afterDrain();
    const code = await Promise.race([consumer.stop(), sleep(STOP_DEADLINE_MS, 'late' as const, { ref: false })]);
    if (code === 'late') throw failed(`the consumer did not stop within ${STOP_DEADLINE_MS / 1000} s of its SIGTERM`);
    if (code !== 0) throw failed(`the consumer's stop ended with exit code ${code}`);
    return { value, total, drainAfterSeconds, consumer: parseConsumerSummary(consumer.stdout) };
  } finally {
    await admin.disconnect();
    consumer.child.kill('SIGKILL');
  }
}

export async function loadRun(
  rt: Runtime,
  c: Config,
  env: Record<string, string>,
  load: { offered: number; seconds: number; requests: Iterable<RedemptionRequested>; sample: boolean },
): Promise<LoadRunResult> {
  let sent = 0;
  let drained = false;
  let sampler: Promise<SustainedSample[]> = Promise.resolve([]);
  let samples: SustainedSample[] = [];
  // A failed run stops the sampler too (it would sample a disconnected admin for ever).
  const run = await withConsumer(
    rt,
    c,
    env,
    async (admin) => {
      sampler = load.sample
        ? sampleEverySecond(
            admin,
            c.consumerGroup,
            c.redemptionTopic,
            () => sent,
            () => drained,
          )
        : Promise.resolve([]);
      const started = Date.now();
      await produceAtRate(rt, c.redemptionTopic, load.offered, load.requests, (n) => (sent = n));
      return (Date.now() - started) / 1000;
    },
    // The sampler runs on until the drain is over, and ends before the admin client it uses.
    async () => {
      drained = true;
      samples = await sampler;
    },
  ).finally(() => {
    drained = true;
    sampler.catch(() => {});
  });
  const latency = await latencyOf(rt, c, run.total);
  // Kept up: the backlog left when production stopped was worked off within a second.
  return {
    summary: {
      achievedPerSecond: Math.round(run.total / run.value),
      keptUp: run.drainAfterSeconds <= 1,
      drainAfterSeconds: run.drainAfterSeconds,
      ...latency,
    },
    samples,
    consumer: run.consumer,
  };
}

async function untilStable(admin: Admin, groupId: string, exited: () => boolean, failed: (what: string) => Error): Promise<void> {
  const deadline = Date.now() + JOIN_DEADLINE_MS;
  for (;;) {
    const { groups } = await admin.describeGroups([groupId]);
    if (groups[0]!.state === 'Stable') return;
    if (exited()) throw failed('the consumer exited before joining its group');
    if (Date.now() > deadline) throw failed(`the consumer did not join its group within ${JOIN_DEADLINE_MS / 1000} s`);
    await sleep(100);
  }
}

/** Sends `requests` at `offered`/s in small batches (a hundredth of a second's worth), reporting the count sent. */
async function produceAtRate(
  rt: Runtime,
  topic: string,
  offered: number,
  requests: Iterable<RedemptionRequested>,
  onSent: (sent: number) => void,
): Promise<void> {
  const producer = await RedemptionProducer.connect(rt.kafka(), await rt.registry().codecFor<RedemptionRequested>('requested', topic), topic);
  const limiter = new RateLimiter(offered);
  const perSend = Math.max(1, Math.round(offered / 100));
  let sent = 0;
  let batch: RedemptionRequested[] = [];
  for (const r of requests) {
    batch.push(r);
    if (batch.length >= perSend) {
      await producer.sendAll(batch);
      sent += batch.length;
      onSent(sent);
      batch = [];
      await limiter.wait(sent);
    }
  }
  await producer.sendAll(batch);
  onSent(sent + batch.length);
  await producer.disconnect();
}

/** The audit topic's decoder, answering a record's source (the request's partition and offset). */
function sourceOf(rt: Runtime): (value: Buffer) => Promise<{ partition: number; offset: number }> {
  const decoder = rt.registry().decoderFor<RedemptionDecided>('decided');
  return async (value) => {
    const r = await decoder.decode(value);
    return { partition: r.source_partition, offset: r.source_offset };
  };
}

async function latencyOf(rt: Runtime, c: Config, total: number): Promise<LatencySummary> {
  return endToEndLatency(rt.kafka(), c.redemptionTopic, total, c.auditTopic, total, sourceOf(rt));
}

/** Each decided request's CreateTimes (`partition/offset` → request, audit record) in `c`'s two topics. */
export function createTimesOf(rt: Runtime, c: Config, total: number): Promise<Map<string, CreateTimes>> {
  return createTimes(rt.kafka(), c.redemptionTopic, total, c.auditTopic, total, sourceOf(rt));
}
