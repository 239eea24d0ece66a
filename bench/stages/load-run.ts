/**
 * One consumer running while requests arrive; the latency, sustained and checkout stages' measurement.
 * `withConsumer` starts it, lets the caller put requests on the topic, and waits until every one is
 * decided; `loadRun` produces at a fixed rate. Latency is read afterwards from the two topics (a
 * request's CreateTime to its audit record's); with `sample`, the group's progress is also sampled every
 * second. With a warm-up, the load runs that much longer first and the figures are of what follows it:
 * a consumer process starts with its code interpreted and its connections and caches cold, and a
 * 20 s run that counts its first seconds reports the start of a process more than the load (at 25% of
 * drain capacity, p99 481 ms in the first 5 s of a run and 35-51 ms from the 10th on, 2026-12-05). The
 * warm-up's own latency is reported beside it.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import type { Admin } from 'kafkajs';

import type { Config } from '../../lib/config.js';
import { groupProgress, topicOffsets } from '../../lib/kafka.js';
import { RateLimiter } from '../../lib/progress.js';
import type { Runtime } from '../../lib/runtime.js';
import { RedemptionProducer } from '../../producers/redemption-producer.js';
import type { RedemptionDecided, RedemptionRequested } from '../../schemas/types.js';
import { ConsumerProcess } from '../../scripts/harness/consumer-process.js';
import { freePort } from '../../scripts/stack/own-servers.js';
import { type ConsumerSummary, parseConsumerSummary } from '../consumer-summary.js';
import { hostCpuBetween, type HostCpuMark, type HostCpuShares, markHostCpu } from '../host-cpu.js';
import { type CreateTimes, createTimes, type LatencySummary, summarise } from '../latency.js';
import { type Histograms, histogramsBetween, scrapeHistograms, windowLatency } from '../metrics-window.js';
import type { LatencyRun } from '../result.js';
import { sampleEverySecond, type SustainedSample } from '../sustained.js';
import { round } from './context.js';

export interface LoadRunResult {
  /** Of the requests sent after the warm-up (all of them without one). */
  summary: { achievedPerSecond: number; keptUp: boolean; drainAfterSeconds: number } & LatencySummary;
  samples: SustainedSample[];
  /** The consumer's own account of its whole life: its CPU, and its latency end to end and by stage. */
  consumer: ConsumerSummary;
  /** With a warm-up: the warm-up's latency, and the consumer's account of the rest (its /metrics and CPU between the two). */
  window?: MeasuredWindow;
}

/**
 * The consumer's own account of a run's measured seconds (after the warm-up, when there is one): its
 * latency end to end and by stage, its CPU per 1,000 requests (`offered`: the requests sent in the
 * measured seconds, when there is no window to count them), its flushes and its event loop.
 */
export function consumerAccount(l: LoadRunResult, offered: number): NonNullable<LatencyRun['consumer']> {
  const own = l.window?.consumer ?? l.consumer;
  const cpuPer1000 = l.window ? (l.window.cpuSeconds / l.window.requests) * 1000 : (l.consumer.cpuSeconds / offered) * 1000;
  return {
    endToEnd: own.endToEnd,
    stages: own.stages,
    cpuSecondsPer1000: round(cpuPer1000, 4),
    flushes: l.consumer.flushes,
    fetches: l.consumer.fetches,
    pauses: l.consumer.pauses,
  };
}

interface Snapshot {
  histograms: Histograms;
  /** CPU seconds so far of the consumer (`host.cpu.consumer`), the services and the host */
  host: HostCpuMark;
}

export interface MeasuredWindow {
  /** the warm-up's length and the latency of the requests sent during it */
  warmup: { seconds: number } & LatencySummary;
  /** the consumer's histograms from the warm-up's end to the drain's end */
  consumer: Pick<ConsumerSummary, 'endToEnd' | 'stages'>;
  /** the consumer's CPU seconds over the same span */
  cpuSeconds: number;
  /** the cores each process on the host used over the same span */
  hostCpu: HostCpuShares;
  /** requests sent after the warm-up */
  requests: number;
}

export async function committedTotal(admin: Admin, groupId: string, topic: string): Promise<number> {
  const { committed } = await groupProgress(admin, groupId, topic);
  return [...committed.values()].reduce((sum, offset) => sum + offset, 0);
}

/** Messages on the topic (its partitions' end offsets, added up). */
export async function topicTotal(admin: Admin, topic: string): Promise<number> {
  return (await topicOffsets(admin, topic)).reduce((sum, p) => sum + Number(p.high), 0);
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
  drive: (admin: Admin, consumer: ConsumerProcess) => Promise<T>,
  /** runs once every request is decided, while the admin client is still connected and the consumer runs */
  afterDrain: (consumer: ConsumerProcess) => Promise<void> = async () => {},
): Promise<ConsumedRun<T>> {
  const consumer = new ConsumerProcess({ ...process.env, ...env });
  let exitedEarly = false;
  void consumer.exited.then(() => (exitedEarly = true));
  const failed = (what: string) => new Error(`${what}; the consumer's last words: ${consumer.lastWords()}`);
  const admin = rt.kafka().admin();
  await admin.connect();
  try {
    await untilStable(admin, c.consumerGroup, () => exitedEarly, failed);
    const value = await drive(admin, consumer);
    const endedAt = Date.now();
    const total = await topicTotal(admin, c.redemptionTopic);
    const deadline = endedAt + 60_000 + total;
    for (let committed = 0; (committed = await committedTotal(admin, c.consumerGroup, c.redemptionTopic)) < total; await sleep(50)) {
      if (exitedEarly) throw failed(`the consumer exited with ${committed} of ${total} requests committed`);
      if (Date.now() > deadline)
        throw failed(`only ${committed} of ${total} requests decided ${Math.round((Date.now() - endedAt) / 1000)} s after the load ended`);
    }
    const drainAfterSeconds = (Date.now() - endedAt) / 1000;
    await afterDrain(consumer);
    const code = await consumer.stopWithin(STOP_DEADLINE_MS);
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
  load: {
    offered: number;
    seconds: number;
    /** Seconds of the same load before the measured `seconds` (0: none); `requests` must cover both. */
    warmupSeconds?: number;
    requests: Iterable<RedemptionRequested>;
    sample: boolean;
  },
): Promise<LoadRunResult> {
  const window = await WarmupWindow.create(load.warmupSeconds ?? 0);
  const warmupRequests = Math.round(load.offered * window.seconds);
  let sent = 0;
  let drained = false;
  let sampler: Promise<SustainedSample[]> = Promise.resolve([]);
  let samples: SustainedSample[] = [];
  // A failed run stops the sampler too (it would sample a disconnected admin for ever).
  const run = await withConsumer(
    rt,
    c,
    window.env(env),
    async (admin, consumer) => {
      sampler = load.sample
        ? sampleEverySecond(
            admin,
            c.consumerGroup,
            c.redemptionTopic,
            () => sent,
            () => drained,
          )
        : Promise.resolve([]);
      let started = Date.now();
      const warmupOver =
        warmupRequests > 0
          ? {
              after: warmupRequests,
              run: async () => {
                started = await window.warmedUp(consumer, sent);
              },
            }
          : undefined;
      await produceAtRate(rt, c.redemptionTopic, load.offered, load.requests, (n) => (sent = n), warmupOver);
      return (Date.now() - started) / 1000;
    },
    // The sampler runs on until the drain is over, and ends before the admin client it uses.
    async (consumer) => {
      drained = true;
      samples = await sampler;
      await window.drained(consumer);
    },
  ).finally(() => {
    drained = true;
    sampler.catch(() => {});
  });
  const { latency, measured, measuredWindow } = window.result([...(await createTimesOf(rt, c, run.total)).values()], run.total);
  // Kept up: the backlog left when production stopped was worked off within a second.
  return {
    window: measuredWindow,
    summary: {
      achievedPerSecond: Math.round(measured / run.value),
      keptUp: run.drainAfterSeconds <= 1,
      drainAfterSeconds: run.drainAfterSeconds,
      ...latency,
    },
    samples,
    consumer: run.consumer,
  };
}

/**
 * A run's warm-up: the consumer's /metrics (on a port of its own) and CPU read when the warm-up ends and
 * when the drain is over; the requests sent before the warm-up's end are reported apart. Without a
 * warm-up, nothing is read and every request counts.
 */
class WarmupWindow {
  private mark: (Snapshot & { at: number; sent: number }) | null = null;
  private end: Snapshot | null = null;

  private constructor(
    readonly seconds: number,
    private readonly metricsPort: number | null,
  ) {}

  static async create(seconds: number): Promise<WarmupWindow> {
    return new WarmupWindow(seconds, seconds > 0 ? await freePort() : null);
  }

  /** The consumer's environment: its ops server on the port the window reads. */
  env(env: Record<string, string>): Record<string, string> {
    return this.metricsPort === null ? env : { ...env, METRICS_PORT: String(this.metricsPort) };
  }

  /** The warm-up is over, `sent` requests into the load: returns when the measured part starts. */
  async warmedUp(consumer: ConsumerProcess, sent: number): Promise<number> {
    const at = Date.now();
    this.mark = { at, sent, ...(await this.read(consumer)) };
    return at;
  }

  async drained(consumer: ConsumerProcess): Promise<void> {
    if (this.mark) this.end = await this.read(consumer);
  }

  /** The latency of the requests sent after the warm-up, how many they were, and the window's account. */
  result(times: readonly CreateTimes[], total: number): { latency: LatencySummary; measured: number; measuredWindow?: MeasuredWindow } {
    const latencyOf = (keep: (sent: number) => boolean) => summarise(times.filter((t) => keep(t.sent)).map((t) => t.decided - t.sent));
    const { mark, end } = this;
    if (!mark || !end) return { latency: latencyOf(() => true), measured: total };
    const measured = total - mark.sent;
    return {
      latency: latencyOf((at) => at >= mark.at),
      measured,
      measuredWindow: {
        warmup: { seconds: this.seconds, ...latencyOf((at) => at < mark.at) },
        consumer: windowLatency(histogramsBetween(mark.histograms, end.histograms)),
        cpuSeconds: (end.host.cpu.consumer ?? 0) - (mark.host.cpu.consumer ?? 0),
        hostCpu: hostCpuBetween(mark.host, end.host),
        requests: measured,
      },
    };
  }

  private async read(consumer: ConsumerProcess): Promise<Snapshot> {
    return { histograms: await scrapeHistograms(this.metricsPort!), host: markHostCpu(consumer.child.pid!) };
  }
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
  /** Awaited once, as soon as `after` requests are sent (the warm-up's end). */
  checkpoint?: { after: number; run: () => Promise<void> },
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
      if (checkpoint && sent >= checkpoint.after) {
        await checkpoint.run();
        checkpoint = undefined;
      }
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

/** Each decided request's CreateTimes (`partition/offset` → request, audit record) in `c`'s two topics. */
export function createTimesOf(rt: Runtime, c: Config, total: number): Promise<Map<string, CreateTimes>> {
  return createTimes(rt.kafka(), c.redemptionTopic, total, c.auditTopic, total, sourceOf(rt));
}
