/**
 * What a consumer process reports when it exits (its summary on stdout, see cli/commands/consume.ts
 * formatStats): CPU and memory, statement counts, and the latency it measured itself, end to end and by
 * stage (consumers/stage-histogram.ts), read back by the bench.
 */
import { type Stage, STAGES, type StageSummary } from '../consumers/stage-histogram.js';

export interface ConsumerSummary {
  cpuSeconds: number;
  peakRssMiB: number;
  mysqlStatements: number;
  redisRoundTrips: number;
  flushes: number;
  /** fetch requests the brokers answered */
  fetches: number;
  /** end to end as the consumer measured it (CreateTime to its audit record acknowledged), ms */
  endToEnd: { mean: number; p50: number; p95: number; p99: number } | null;
  /** per stage, ms */
  stages: Partial<Record<Stage, Omit<StageSummary, 'count' | 'p95'>>>;
  /** how late the event loop ran its timer (ms), its busy share, and GC pauses (ms): consumers/pause-watch.ts */
  pauses: { loopDelayP50: number; loopDelayP99: number; loopDelayMax: number; busy: number; gcMs: number; gcMajorMaxMs: number } | null;
}

const num = (pattern: RegExp, text: string) => Number(pattern.exec(text)?.[1] ?? NaN);

export function parseConsumerSummary(text: string): ConsumerSummary {
  const e2e = /end to end ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(text);
  const stages: ConsumerSummary['stages'] = {};
  const byStage = ` ${/by stage (.*)/.exec(text)?.[1] ?? ''}`;
  for (const stage of STAGES) {
    const m = new RegExp(`[ ,]${stage} ([\\d.]+)/([\\d.]+)/([\\d.]+)`).exec(byStage);
    if (m) stages[stage] = { mean: Number(m[1]), p50: Number(m[2]), p99: Number(m[3]) };
  }
  return {
    cpuSeconds: num(/cpu ([\d.]+) s/, text),
    peakRssMiB: num(/peak RSS ([\d.]+) MiB/, text),
    mysqlStatements: num(/MySQL statements (\d+)/, text),
    redisRoundTrips: num(/Redis round trips (\d+)/, text),
    flushes: num(/batches +(\d+)/, text),
    fetches: num(/fetches (\d+)/, text),
    endToEnd: e2e ? { mean: Number(e2e[1]), p50: Number(e2e[2]), p95: Number(e2e[3]), p99: Number(e2e[4]) } : null,
    stages,
    pauses: pausesOf(text),
  };
}

function pausesOf(text: string): ConsumerSummary['pauses'] {
  const m = /event loop delay p50\/p99\/max ([\d.]+)\/([\d.]+)\/([\d.]+) ms, busy (\d+)%, GC (\d+) ms \(longest major ([\d.]+) ms\)/.exec(text);
  if (!m) return null;
  const [p50, p99, max, busy, gc, major] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return { loopDelayP50: p50, loopDelayP99: p99, loopDelayMax: max, busy: busy / 100, gcMs: gc, gcMajorMaxMs: major };
}

type StageFigures = NonNullable<ConsumerSummary['stages'][Stage]>;

/** `kafka <figures>, decode <figures>, ...` for the stages measured, in the stages' order. */
function formatStages(stages: ConsumerSummary['stages'], figures: (s: StageFigures) => string): string {
  return STAGES.filter((s) => stages[s])
    .map((s) => `${s} ${figures(stages[s]!)}`)
    .join(', ');
}

/** `kafka 1.2, decode 0.1, ...`: the mean of each stage, ms. */
export function formatStageMeans(stages: ConsumerSummary['stages']): string {
  return formatStages(stages, (f) => String(f.mean));
}

/** Each stage's mean and p99 (ms), `kafka 3.1/40.2, ...`: where a long run's tail sat. */
export function formatStageTails(stages: ConsumerSummary['stages']): string {
  return formatStages(stages, (f) => `${f.mean}/${f.p99}`);
}

/** The consumer's event loop over a run, as the bench prints it (null: not reported). */
export function formatEventLoop(p: ConsumerSummary['pauses']): string | null {
  return p
    ? `consumer's event loop: delay p50/p99/max ${p.loopDelayP50}/${p.loopDelayP99}/${p.loopDelayMax} ms, busy ${Math.round(p.busy * 100)}%, GC ${p.gcMs} ms (longest major ${p.gcMajorMaxMs} ms)`
    : null;
}
