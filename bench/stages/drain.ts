/**
 * Drain throughput: consumer processes drain the whole requests topic and exit when idle; timed from the
 * group's first decision to its last audit record. 1 process (the capacity the latency and sustained
 * stages offer fractions of), then 2.
 */
import type { Config } from '../../lib/config.js';
import { readTopicFromStart } from '../../lib/kafka.js';
import type { Runtime } from '../../lib/runtime.js';
import type { RedemptionDecided } from '../../schemas/types.js';
import { ConsumerProcess } from '../../scripts/harness/consumer-process.js';
import type { ConsumerRun } from '../result.js';
import type { BenchContext } from './context.js';
import { requestsTopicData } from './data.js';

export async function drainStage(ctx: BenchContext): Promise<ConsumerRun[]> {
  return [await capacityRun(ctx), await drainOnce(ctx, 'c2', 2)];
}

/** The 1-process drain, measured once per run: the capacity other stages are offered fractions of. */
export function capacityRun(ctx: BenchContext): Promise<ConsumerRun> {
  return ctx.once('drain1', () => drainOnce(ctx, 'c1', 1));
}

/** One drain of the requests topic by `processes` consumers in namespace `run`, verified. */
export async function drainOnce(ctx: BenchContext, run: string, processes: number, nodeOptions?: string): Promise<ConsumerRun> {
  await requestsTopicData(ctx);
  const c = ctx.ns(run);
  // c1 is the namespace the data was produced in, prepared with it.
  if (run !== 'c1') await ctx.prepare(c);
  ctx.print(`drain: ${processes} consumer process(es)${nodeOptions ? ` with NODE_OPTIONS=${nodeOptions}` : ''}`);
  const env = nodeOptions ? { ...ctx.envOf(c), NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${nodeOptions}`.trim() } : ctx.envOf(c);
  const d = await drainRun(ctx.rt, c, env, processes, ctx.o.requests);
  if (nodeOptions) d.nodeOptions = nodeOptions;
  d.correct = await ctx.check(c);
  ctx.print(`  ${d.perSecond} requests/s, peak RSS ${d.peakRssMiB} MiB, correct: ${d.correct}`);
  return d;
}

/**
 * Starts `processes` consumers, lets them drain the topic and exit when idle, and times the group from
 * its first decision to the publish of its last audit record.
 */
async function drainRun(rt: Runtime, c: Config, env: Record<string, string>, processes: number, total: number): Promise<ConsumerRun> {
  const children = Array.from({ length: processes }, () => new ConsumerProcess({ ...process.env, ...env }, { args: ['--exit-when-idle', '3'] }));
  await Promise.all(children.map((ch) => ch.exited));
  const summaries = children.map((ch) => ch.stderr);
  const sum = (pattern: RegExp) => summaries.reduce((acc, s) => acc + Number(pattern.exec(s)?.[1] ?? NaN), 0);
  const seconds = (await decidingSpan(rt, c.auditTopic, total)) / 1000;
  return {
    processes,
    requests: total,
    seconds,
    perSecond: Math.round(total / seconds),
    cpuSeconds: sum(/cpu ([\d.]+) s/),
    peakRssMiB: Math.max(...summaries.map((s) => Number(/peak RSS ([\d.]+) MiB/.exec(s)?.[1] ?? NaN))),
    mysqlStatements: sum(/MySQL statements (\d+)/),
    redisRoundTrips: sum(/Redis round trips (\d+)/),
    correct: false,
  };
}

/**
 * Milliseconds from the first decision (the earliest decided_at, taken as a flush starts) to the last
 * audit record published (the latest CreateTime on the audit topic), read off the audit stream itself:
 * polling the group's offsets instead missed small runs, which one flush can commit entirely.
 */
async function decidingSpan(rt: Runtime, auditTopic: string, records: number): Promise<number> {
  const decoder = rt.registry().decoderFor<RedemptionDecided>('decided');
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  await readTopicFromStart(rt.kafka(), auditTopic, records, async (batch) => {
    for (const m of batch.messages) {
      first = Math.min(first, (await decoder.decode(m.value!)).decided_at.getTime());
      last = Math.max(last, Number(m.timestamp));
    }
  });
  return last - first;
}
