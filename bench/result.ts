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
import type { FlushCycle } from './cycle.js';
import type { LatencySummary } from './latency.js';
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
  p99OverCycle: number;
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
  recovery?: RecoveryRun;
  peer?: PeerRun | null;
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** True when every stage ran: the result has every field. */
export function isComplete(r: PartialBenchResult): r is BenchResult {
  return STAGE_NAMES.every((s) => r.stages?.includes(s) ?? true);
}

export function assembleResult(
  run: { id: string; o: BenchOptions; base: Config; loadAtStart: number[] },
  stages: readonly StageName[],
  p: BenchParts,
): PartialBenchResult {
  const one = p.drain?.[0];
  const runs = [...(p.drain ?? []), p.capped, p.naive, p.raw && { correct: p.raw.rawRowsCorrect }, ...(p.latency ?? []), p.sustained, p.recovery];
  return {
    id: run.id,
    at: new Date().toISOString(),
    stages: [...stages],
    machine: machine(run.loadAtStart),
    settings: settings(run.o, run.base, p.naive?.requests ?? run.o.naiveRequests),
    drain: p.drain,
    capped: p.capped,
    naive: p.naive,
    raw: p.raw?.raw,
    rawRowsCorrect: p.raw?.rawRowsCorrect,
    cycle: p.cycle,
    latency: p.latency,
    sustained: p.sustained,
    recovery: p.recovery,
    peer: p.peer && one && 'perSecond' in p.peer ? { ...p.peer, pipelineOverPeer: round(one.perSecond / p.peer.perSecond) } : p.peer,
    ratios: ratios(p),
    cost: one && {
      peakRssMiB: one.peakRssMiB,
      cpuSecondsPer1000: round((one.cpuSeconds / one.requests) * 1000),
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

function machine(loadAtStart: number[]): Record<string, unknown> {
  return {
    hostname: hostname(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: process.platform,
    loadAverageAtStart: loadAtStart,
    loadAverageAtEnd: loadavg().map((x) => round(x, 1)),
    services: 'Kafka 4.1.1 (KRaft, 1 node), Apicurio Registry 3.0.9, Redis, MariaDB: all on this host',
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
    latencyWhatIf: o.latencyWhatIf,
    sustainedSeconds: o.sustainedSeconds,
    heapCapMiB: o.heapCapMiB,
    partitions: base.topicPartitions,
    flushMaxMessages: base.flushMaxMessages,
    flushConcurrency: base.flushConcurrency,
    partitionsConsumedConcurrently: base.partitionsConsumedConcurrently,
    fetchMaxBytes: base.fetchMaxBytes,
    fetchMaxWaitMs: base.fetchMaxWaitMs,
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
