/**
 * The latency series: one consumer, requests offered at fractions of the 1-process drain rate (and at
 * any fixed `--rates`) for `--latency-seconds`; p50/p95/p99/max from each request's CreateTime to its
 * audit record's, and p99 as a multiple of the minimal flush cycle. One more run at 50% with other
 * consumer settings (`--latency-what-if`) shows what the defaults cost.
 */
import { formatEventLoop, formatStageMeans } from '../consumer-summary.js';
import { formatHostCpuLines } from '../host-cpu.js';
import type { BenchOptions } from '../options.js';
import { numberRepeats } from '../repeats.js';
import type { LatencyRun } from '../result.js';
import { type BenchContext, round } from './context.js';
import { cycleStage } from './cycle.js';
import { capacityRun } from './drain.js';
import { consumerAccount, loadRun } from './load-run.js';

export interface Offered {
  /** The run's namespace (its database, audit topic, group and key prefix, and requests topic): its own. */
  name: string;
  rate: number;
  fraction: number | null;
  settings?: Record<string, string>;
}

export async function latencyStage(ctx: BenchContext): Promise<LatencyRun[]> {
  const { o } = ctx;
  const capacity = o.loadFractions.length > 0 || Object.keys(o.latencyWhatIf).length > 0 ? (await capacityRun(ctx)).perSecond : 0;
  const latency: LatencyRun[] = [];
  for (const run of latencyRuns(o, capacity)) latency.push(await latencyRun(ctx, run));
  return latency;
}

/**
 * The latency runs, in order: the fractions of `capacity`, the fixed rates, the what-if at 50%. Every
 * run gets a namespace of its own, also when two offer the same rate (`--rates 9000,9000`, or a fixed
 * rate equal to a fraction's): named by the rate alone, the second ran on the first's database, Redis
 * prefix and topic with the same requests (the same seed), so Redis answered every request as decided
 * and MySQL was never asked (seen: mean MySQL time 0 ms, p50 4 ms against the first run's 38).
 */
export function latencyRuns(o: Pick<BenchOptions, 'loadFractions' | 'rates' | 'latencyWhatIf'>, capacity: number): Offered[] {
  const at = (fraction: number) => Math.max(1, Math.round(capacity * fraction));
  const whatIf = Object.keys(o.latencyWhatIf).length > 0;
  const runs: Omit<Offered, 'name'>[] = [...o.loadFractions.map((f) => ({ rate: at(f), fraction: f })), ...o.rates.map((r) => ({ rate: r, fraction: null }))];
  const names = numberRepeats(
    runs.map((r) => `lat${r.rate}`),
    (n) => `_${n}`,
  );
  const named = runs.map((r, i) => ({ ...r, name: names[i]! }));
  return whatIf ? [...named, { name: 'whatif', rate: at(0.5), fraction: null, settings: o.latencyWhatIf }] : named;
}

async function latencyRun(ctx: BenchContext, { name, rate, fraction, settings }: Offered): Promise<LatencyRun> {
  const { o } = ctx;
  const cycle = await cycleStage(ctx);
  const c = { ...ctx.ns(name), redemptionTopic: `bench-${ctx.id}-${name}.requested` };
  await ctx.prepare(c);
  const named = settings
    ? Object.entries(settings)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')
    : undefined;
  const what = named ? ` (50%) with ${named}` : fraction !== null ? ` (${fraction * 100}% of drain capacity)` : '';
  ctx.print(
    `latency at ${rate}/s offered${what} for ${o.latencySeconds} s${o.latencyWarmupSeconds > 0 ? `, after ${o.latencyWarmupSeconds} s of warm-up` : ''}`,
  );
  const requests = ctx.simulation(rate * (o.latencyWarmupSeconds + o.latencySeconds), o.seed + rate);
  const l = await loadRun(
    ctx.rt,
    c,
    { ...ctx.envOf(c), ...settings },
    { offered: rate, seconds: o.latencySeconds, warmupSeconds: o.latencyWarmupSeconds, requests, sample: false },
  );
  // After a warm-up, the consumer's figures are of the measured seconds too (its /metrics and CPU between the two).
  const consumer = consumerAccount(l, rate * o.latencySeconds);
  const run: LatencyRun = {
    offeredPerSecond: rate,
    fractionOfCapacity: fraction,
    ...(named ? { settings: named } : {}),
    ...l.summary,
    ...(l.window ? { warmup: l.window.warmup } : {}),
    p50OverCycle: round(l.summary.p50 / cycle.medianMs, 1),
    p95OverCycle: round(l.summary.p95 / cycle.medianMs, 1),
    p99OverCycle: round(l.summary.p99 / cycle.medianMs, 1),
    consumer,
    ...(l.window ? { hostCpu: l.window.hostCpu } : {}),
    correct: await ctx.check(c),
  };
  ctx.print(
    `  p50 ${run.p50} ms, p95 ${run.p95} ms, p99 ${run.p99} ms (${run.p50OverCycle}x / ${run.p95OverCycle}x / ${run.p99OverCycle}x the cycle), max ${run.max} ms; kept up: ${run.keptUp}; correct: ${run.correct}`,
  );
  if (run.warmup)
    ctx.print(
      `  warm-up (the consumer's first ${run.warmup.seconds} s, not counted above): p50 ${run.warmup.p50} ms, p99 ${run.warmup.p99} ms, max ${run.warmup.max} ms`,
    );
  ctx.print(
    `  by stage, mean ms: ${formatStageMeans(consumer.stages)}; ${consumer.flushes} flushes, ${consumer.fetches ?? '?'} fetches, CPU ${consumer.cpuSecondsPer1000} s per 1,000`,
  );
  // How late the consumer's event loop ran (its own work or GC, or a core not free): a tail every stage shares.
  const loop = formatEventLoop(consumer.pauses ?? null);
  if (loop) ctx.print(`  ${loop}`);
  for (const line of run.hostCpu ? formatHostCpuLines(run.hostCpu) : []) ctx.print(`  ${line}`);
  return run;
}
