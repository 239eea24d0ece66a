/**
 * Sustained load: 50% of the 1-process drain rate offered for `--sustained-seconds` after the latency
 * runs' warm-up, the group sampled every second from the start (offered, decided, lag), verified; the
 * latency figures are of the requests sent after the warm-up, the warm-up's reported apart.
 */
import { formatEventLoop, formatStageTails } from '../consumer-summary.js';
import { formatHostCpuLines } from '../host-cpu.js';
import type { SustainedRun } from '../result.js';
import { summariseSustained } from '../sustained.js';
import type { BenchContext } from './context.js';
import { capacityRun } from './drain.js';
import { consumerAccount, loadRun } from './load-run.js';

export async function sustainedStage(ctx: BenchContext): Promise<SustainedRun | null> {
  const { o } = ctx;
  if (o.sustainedSeconds <= 0) return null;
  const rate = Math.max(1, Math.round((await capacityRun(ctx)).perSecond * 0.5));
  const c = { ...ctx.ns('sus'), redemptionTopic: `bench-${ctx.id}-sus.requested` };
  await ctx.prepare(c);
  const warmup = o.latencyWarmupSeconds;
  ctx.print(`sustained: ${rate}/s offered (50% of drain capacity) for ${o.sustainedSeconds} s${warmup > 0 ? `, after ${warmup} s of warm-up` : ''}`);
  const requests = ctx.simulation(rate * (warmup + o.sustainedSeconds), o.seed + 1);
  const l = await loadRun(ctx.rt, c, ctx.envOf(c), { offered: rate, seconds: o.sustainedSeconds, warmupSeconds: warmup, requests, sample: true });
  // The consumer's own account of the measured seconds: which stage its tail sat in.
  const consumer = consumerAccount(l, rate * o.sustainedSeconds);
  const sustained: SustainedRun = {
    offeredTarget: rate,
    seconds: o.sustainedSeconds,
    ...summariseSustained(l.samples, warmup + o.sustainedSeconds),
    ...l.summary,
    ...(l.window ? { warmup: l.window.warmup } : {}),
    consumer,
    ...(l.window ? { hostCpu: l.window.hostCpu } : {}),
    series: l.samples,
    correct: await ctx.check(c),
  };
  ctx.print(`  decided ${sustained.decidedPerSecond}/s on average, max lag ${sustained.maxLag}, p99 ${sustained.p99} ms; correct: ${sustained.correct}`);
  if (sustained.warmup)
    ctx.print(
      `  warm-up (the consumer's first ${sustained.warmup.seconds} s, not counted above): p50 ${sustained.warmup.p50} ms, p99 ${sustained.warmup.p99} ms`,
    );
  ctx.print(`  by stage, mean/p99 ms: ${formatStageTails(consumer.stages)}; CPU ${consumer.cpuSecondsPer1000} s per 1,000`);
  const loop = formatEventLoop(consumer.pauses ?? null);
  if (loop) ctx.print(`  ${loop}`);
  for (const line of sustained.hostCpu ? formatHostCpuLines(sustained.hostCpu) : []) ctx.print(`  ${line}`);
  return sustained;
}
