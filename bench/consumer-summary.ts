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
  /** end to end as the consumer measured it (CreateTime to its audit record acknowledged), ms */
  endToEnd: { mean: number; p50: number; p95: number; p99: number } | null;
  /** per stage, ms */
  stages: Partial<Record<Stage, Omit<StageSummary, 'count' | 'p95'>>>;
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
    endToEnd: e2e ? { mean: Number(e2e[1]), p50: Number(e2e[2]), p95: Number(e2e[3]), p99: Number(e2e[4]) } : null,
    stages,
  };
}

/** `kafka 1.2, decode 0.1, ...`: the mean of each stage, ms. */
export function formatStageMeans(stages: ConsumerSummary['stages']): string {
  return STAGES.filter((s) => stages[s])
    .map((s) => `${s} ${stages[s]!.mean}`)
    .join(', ');
}
