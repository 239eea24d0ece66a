/**
 * A benchmark run's result: what each stage measured, the ratios between them, the cost per request,
 * and whether every run's MySQL state was correct; written as JSON (read back by `bench --compare` and
 * bench/markdown.ts) with an SVG chart. A run of some stages only (`--only`) writes the same shape with
 * the other stages' fields left out, and names its stages.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg, totalmem } from 'node:os';

import type { Config } from '../lib/config.js';
import { benchChart, sustainedChart } from './chart.js';
import type { PeerResult } from './connect-peer.js';
import type { ConsumerSummary } from './consumer-summary.js';
import type { FlushCycle } from './cycle.js';
import type { HostCpuShares } from './host-cpu.js';
import type { LatencySummary } from './latency.js';
import type { Sizing } from './mysql-server-sizing.js';
import { type BenchOptions, STAGE_NAMES, type StageName } from './options.js';
import type { StageRate } from './raw-stages.js';
import type { SustainedSample } from './sustained.js';

export type { BenchOptions, StageName } from './options.js';

export interface ConsumerRun {
  processes: number;
  requests: number;
  perSecond: number;
  seconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  mysqlStatements: number;
  redisRoundTrips: number;
  /** flushes the consumers made (absent in files written before it was reported) */
  flushes?: number;
  nodeOptions?: string;
  correct: boolean;
}

export interface NaiveRun {
  requests: number;
  seconds: number;
  perSecond: number;
  partitionsConcurrently: number;
  correct: boolean;
}

export interface RawRun {
  raw: Record<string, StageRate>;
  rawRowsCorrect: boolean;
  combinedCeiling: number;
}

export interface LatencyRun extends LatencySummary {
  offeredPerSecond: number;
  fractionOfCapacity: number | null;
  /** consumer settings changed from the defaults for this run (the what-if run) */
  settings?: string;
  achievedPerSecond: number;
  keptUp: boolean;
  drainAfterSeconds: number;
  /**
   * the warm-up before the measured seconds (the figures above are of what follows it): its length and
   * its requests' latency (absent in older files, which measured from the consumer's start)
   */
  warmup?: { seconds: number } & LatencySummary;
  /** p50, p95 and p99 as multiples of the minimal flush cycle (p50/p95: absent in older files) */
  p50OverCycle?: number;
  p95OverCycle?: number;
  p99OverCycle: number;
  /** the consumer's own account of the same requests: end to end and per stage, ms (absent in older files) */
  consumer?: {
    endToEnd: ConsumerSummary['endToEnd'];
    stages: ConsumerSummary['stages'];
    cpuSecondsPer1000: number;
    flushes: number;
    /** fetch requests the brokers answered over the consumer's life (absent in older results) */
    fetches?: number;
    /** the consumer's event-loop delay and GC pauses over the run (absent in older results) */
    pauses?: ConsumerSummary['pauses'];
  };
  /** the cores each process on the host used over the measured seconds (absent in older files and without a warm-up) */
  hostCpu?: HostCpuShares;
  correct: boolean;
}

export interface SustainedRun extends LatencySummary {
  offeredTarget: number;
  seconds: number;
  offeredPerSecond: number;
  decidedPerSecond: number;
  maxLag: number;
  lagAtEndOfProduction: number;
  achievedPerSecond: number;
  keptUp: boolean;
  drainAfterSeconds: number;
  /** the warm-up before `seconds` (sampled in `series`; the latency figures are of what follows it); absent in older files */
  warmup?: { seconds: number } & LatencySummary;
  /** the consumer's own account of the measured seconds, as for a latency run (absent in older files) */
  consumer?: LatencyRun['consumer'];
  hostCpu?: LatencyRun['hostCpu'];
  series: SustainedSample[];
  correct: boolean;
}

export interface RecoveryRun {
  sessionTimeoutMs: number;
  killedAfterDecided: number;
  firstDecisionSeconds: number | null;
  drainedSeconds: number;
  correct: boolean;
}

/** One way a checkout waits for its decision (redeem() on the client, or POST ?wait), under paced load. */
export interface CheckoutWaitRun extends LatencySummary {
  how: string;
  offeredPerSecond: number;
  achievedPerSecond: number;
  /** requests sent, each answered (with a decision or, past the wait, without) */
  requests: number;
  decidedInTime: number;
  /** every decision answered is the one MySQL stored for that request id */
  answersMatchMySql: boolean;
  /** HTTP only: connections redeem serve reset, each followed by a new request (absent for redeem()) */
  connectionResets?: number;
  /** HTTP only: requests not answered within the load generator's time-out, counted at it in the percentiles */
  unanswered?: number;
  /** CPU seconds per second of the load: redeem serve (HTTP only), the bench process (the client or autocannon), the host's busy cores */
  cpu?: { serve?: number; loadGenerator: number; hostBusyCores: number };
  /** mean ms of each part of the slowest 1% (bench/slowest-requests.ts) */
  slowest: { requests: number; send: number; pipeline: number; answer: number };
  /** the consumer's own account: end to end and per stage, ms */
  consumer: { endToEnd: ConsumerSummary['endToEnd']; stages: ConsumerSummary['stages'] };
  goalP99Ms: number;
  met: boolean;
  /** what holds p99 when the goal is missed (measured, see heldBy) */
  heldBy: string | null;
  correct: boolean;
}

/** HTTP intake without a wait: what one `redeem serve` accepts per second, against the drain rate. */
export interface CheckoutIntakeRun {
  how: string;
  connections: number;
  seconds: number;
  accepted: number;
  perSecond: number;
  drainPerSecond: number;
  connectionResets: number;
  /** CPU seconds per second of the run: redeem serve, the bench process (autocannon), the host's busy cores */
  cpu: { serve: number; loadGenerator: number; hostBusyCores: number };
  met: boolean;
  heldBy: string | null;
  correct: boolean;
}

export interface CheckoutRun {
  fractionOfCapacity: number;
  drainPerSecond: number;
  loadGenerator: string;
  redeem: CheckoutWaitRun;
  http: CheckoutWaitRun;
  intake: CheckoutIntakeRun;
}

export type PeerRun = (PeerResult & { expectedRows: number; correct: boolean; pipelineOverPeer?: number }) | { error: string };

export interface BenchResult {
  id: string;
  at: string;
  /** the stages this run took (absent in files written before stages could run alone) */
  stages?: StageName[];
  machine: Record<string, unknown>;
  settings: Record<string, unknown>;
  drain: ConsumerRun[];
  capped: ConsumerRun | null;
  naive: NaiveRun;
  raw: Record<string, StageRate>;
  rawRowsCorrect: boolean;
  cycle: FlushCycle;
  latency: LatencyRun[];
  sustained: SustainedRun | null;
  /** absent in files written before the checkout stage */
  checkout?: CheckoutRun;
  peer: PeerRun | null;
  recovery: RecoveryRun;
  ratios: {
    pipelineOverNaive: number;
    combinedCeiling: number;
    shareOfCeiling: number;
    p99OverCycleAt50: number | null;
    cappedRssMiB: number | null;
    cappedThroughputShare: number | null;
  };
  cost: { peakRssMiB: number; cpuSecondsPer1000: number; mysqlStatementsPer1000: number; redisRoundTripsPer1000: number };
  correct: boolean;
}

type StageFields = 'drain' | 'capped' | 'naive' | 'raw' | 'rawRowsCorrect' | 'cycle' | 'latency' | 'sustained' | 'peer' | 'recovery' | 'cost';

/** A result of some stages: the fields of the others are absent, the ratios those stages allow. */
export type PartialBenchResult = Omit<BenchResult, StageFields | 'ratios'> &
  Partial<Pick<BenchResult, StageFields>> & { ratios: Partial<BenchResult['ratios']> };

/** What the stages measured, each field set by its stage (or by a stage that needed it). */
export interface BenchParts {
  drain?: ConsumerRun[];
  capped?: ConsumerRun | null;
  naive?: NaiveRun;
  raw?: RawRun;
  cycle?: FlushCycle;
  latency?: LatencyRun[];
  sustained?: SustainedRun | null;
  checkout?: CheckoutRun;
  recovery?: RecoveryRun;
  peer?: PeerRun | null;
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** True when every stage ran: the result has every field. */
export function isComplete(r: PartialBenchResult): r is BenchResult {
  return STAGE_NAMES.every((s) => r.stages?.includes(s) ?? true);
}

export function assembleResult(
  run: { id: string; o: BenchOptions; base: Config; loadAtStart: number[]; mysql: Sizing },
  stages: readonly StageName[],
  p: BenchParts,
): PartialBenchResult {
  const one = p.drain?.[0];
  const checkout = p.checkout ? [p.checkout.redeem, p.checkout.http, p.checkout.intake] : [];
  const runs = [...(p.drain ?? []), p.capped, p.naive, p.raw && { correct: p.raw.rawRowsCorrect }, ...(p.latency ?? []), p.sustained, ...checkout, p.recovery];
  return {
    id: run.id,
    at: new Date().toISOString(),
    stages: [...stages],
    machine: machine(run.loadAtStart, run.mysql),
    settings: settings(run.o, run.base, p.naive?.requests ?? run.o.naiveRequests),
    drain: p.drain,
    capped: p.capped,
    naive: p.naive,
    raw: p.raw?.raw,
    rawRowsCorrect: p.raw?.rawRowsCorrect,
    cycle: p.cycle,
    latency: p.latency,
    sustained: p.sustained,
    ...(p.checkout ? { checkout: p.checkout } : {}),
    recovery: p.recovery,
    peer: p.peer && one && 'perSecond' in p.peer ? { ...p.peer, pipelineOverPeer: round(one.perSecond / p.peer.perSecond) } : p.peer,
    ratios: ratios(p),
    cost: one && {
      peakRssMiB: one.peakRssMiB,
      cpuSecondsPer1000: round((one.cpuSeconds / one.requests) * 1000, 4),
      mysqlStatementsPer1000: round((one.mysqlStatements / one.requests) * 1000),
      redisRoundTripsPer1000: round((one.redisRoundTrips / one.requests) * 1000),
    },
    correct: runs.every((r) => !r || r.correct) && (!p.peer || 'error' in p.peer || p.peer.correct),
  };
}

function ratios(p: BenchParts): PartialBenchResult['ratios'] {
  const one = p.drain?.[0];
  const half = p.latency?.find((l) => l.fractionOfCapacity === 0.5);
  const capped =
    p.capped === undefined
      ? {}
      : { cappedRssMiB: p.capped?.peakRssMiB ?? null, cappedThroughputShare: p.capped && one ? round(p.capped.perSecond / one.perSecond) : null };
  return {
    ...(one && p.naive ? { pipelineOverNaive: round(one.perSecond / p.naive.perSecond, 1) } : {}),
    ...(p.raw ? { combinedCeiling: p.raw.combinedCeiling } : {}),
    ...(one && p.raw ? { shareOfCeiling: round(one.perSecond / p.raw.combinedCeiling) } : {}),
    ...(p.latency ? { p99OverCycleAt50: half ? half.p99OverCycle : null } : {}),
    ...capped,
  };
}

/** The host's 1-minute load average above which a run does not stand for the pipeline on a quiet host. */
export const REPRESENTATIVE_LOAD = 1.5;

function machine(loadAtStart: number[], mysql: Sizing): Record<string, unknown> {
  return {
    representative: (loadAtStart[0] ?? Infinity) <= REPRESENTATIVE_LOAD,
    hostname: hostname(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: process.platform,
    loadAverageAtStart: loadAtStart,
    loadAverageAtEnd: loadavg().map((x) => round(x, 1)),
    services: 'Kafka 4.1.1 (KRaft, 1 node), Apicurio Registry 3.0.9, Redis, MariaDB: all on this host',
    mysqlBufferPoolMiB: mysql.bufferPoolMiB,
    mysqlRedoLogMiB: mysql.redoLogMiB,
  };
}

function settings(o: BenchOptions, base: Config, naiveRequests: number): Record<string, unknown> {
  return {
    requests: o.requests,
    coupons: o.coupons,
    retryShare: 0.03,
    refundShare: 0.02,
    seed: o.seed,
    naiveRequests,
    loadFractions: o.loadFractions,
    rates: o.rates,
    latencySeconds: o.latencySeconds,
    latencyWarmupSeconds: o.latencyWarmupSeconds,
    latencyWhatIf: o.latencyWhatIf,
    sustainedSeconds: o.sustainedSeconds,
    checkoutFraction: o.checkoutFraction,
    checkoutSeconds: o.checkoutSeconds,
    heapCapMiB: o.heapCapMiB,
    consumerFrom: o.consumerFrom,
    partitions: base.topicPartitions,
    flushMaxMessages: base.flushMaxMessages,
    flushConcurrency: base.flushConcurrency,
    partitionsConsumedConcurrently: base.partitionsConsumedConcurrently,
    fetchMaxBytes: base.fetchMaxBytes,
    fetchMaxWaitMs: base.fetchMaxWaitMs,
    fetchQueueMaxMessages: base.fetchQueueMaxMessages,
    offsetCommitIntervalMs: base.offsetCommitIntervalMs,
  };
}

/** Writes bench-<time>.json, and its charts: the summary chart of a complete run, the sustained run's series. */
export function writeResult(outDir: string, result: PartialBenchResult): string {
  mkdirSync(outDir, { recursive: true });
  const stamp = result.at.replace(/[:.]/g, '-');
  const file = `${outDir}/bench-${stamp}.json`;
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  if (isComplete(result)) writeFileSync(`${outDir}/bench-${stamp}.svg`, benchChart(result));
  if (result.sustained) writeFileSync(`${outDir}/bench-${stamp}-sustained.svg`, sustainedChart(result.sustained));
  return file;
}
