/**
 * Sustained load: 50% of the 1-process drain rate offered for `--sustained-seconds`, the group sampled
 * every second (offered, decided, lag), verified.
 */
import type { SustainedRun } from '../result.js';
import { summariseSustained } from '../sustained.js';
import type { BenchContext } from './context.js';
import { capacityRun } from './drain.js';
import { loadRun } from './load-run.js';

export async function sustainedStage(ctx: BenchContext): Promise<SustainedRun | null> {
  const { o } = ctx;
  if (o.sustainedSeconds <= 0) return null;
  const rate = Math.max(1, Math.round((await capacityRun(ctx)).perSecond * 0.5));
  const c = { ...ctx.ns('sus'), redemptionTopic: `bench-${ctx.id}-sus.requested` };
  await ctx.prepare(c);
  ctx.print(`sustained: ${rate}/s offered (50% of drain capacity) for ${o.sustainedSeconds} s`);
  const requests = ctx.simulation(rate * o.sustainedSeconds, o.seed + 1);
  const l = await loadRun(ctx.rt, c, ctx.envOf(c), { offered: rate, seconds: o.sustainedSeconds, requests, sample: true });
  const sustained: SustainedRun = {
    offeredTarget: rate,
    seconds: o.sustainedSeconds,
    ...summariseSustained(l.samples, o.sustainedSeconds),
    ...l.summary,
    series: l.samples,
    correct: await ctx.check(c),
  };
  ctx.print(`  decided ${sustained.decidedPerSecond}/s on average, max lag ${sustained.maxLag}, p99 ${sustained.p99} ms; correct: ${sustained.correct}`);
  return sustained;
}
