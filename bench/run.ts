/**
 * The benchmark: a list of stages (bench/stages/), each measuring one thing in its own namespace on the
 * same data and verifying the run's MySQL state (a fast wrong run is a failed run): drain throughput
 * with 1 and 2 consumer processes; the drain with a capped heap; a naive consumer (one message at a time
 * per partition, all partitions at once); the raw limits of Kafka, Redis and MySQL with bare clients;
 * the minimal flush cycle; end-to-end latency at fractions of the drain capacity; a sustained run at 50%;
 * the checkout's wait for its answer (redeem(), POST ?wait, HTTP intake); recovery after kill -9; a Kafka Connect peer. `--only` runs some of them (and what they need).
 */
import { loadavg } from 'node:os';

import { useConsumerEntry } from '../scripts/harness/consumer-process.js';
import { stackUp } from '../scripts/stack/stack.js';
import { consumerEntry } from './consumer-entry.js';
import { restoreLeftSettings } from './mysql-globals.js';
import { sizeServer } from './mysql-server-sizing.js';
import { writeBackDirtyPages } from './mysql-write-back.js';
import { type BenchOptions, STAGE_NAMES, type StageName } from './options.js';
import { assembleResult, type BenchParts, type PartialBenchResult, REPRESENTATIVE_LOAD, writeResult } from './result.js';
import { checkoutStage } from './stages/checkout.js';
import { BenchContext, round } from './stages/context.js';
import { cycleStage } from './stages/cycle.js';
import { drainStage } from './stages/drain.js';
import { latencyStage } from './stages/latency.js';
import { memoryStage } from './stages/memory.js';
import { naiveStage } from './stages/naive.js';
import { peerStage } from './stages/peer.js';
import { rawStage } from './stages/raw.js';
import { recoveryStage } from './stages/recovery.js';
import { sustainedStage } from './stages/sustained.js';

export type { BenchOptions, StageName } from './options.js';
export { SMOKE, STAGE_NAMES } from './options.js';
export type { BenchResult, CheckoutRun, LatencyRun, PartialBenchResult, SustainedRun } from './result.js';

/**
 * The stages whose figures the ratios compare: each starts once InnoDB has written back what earlier
 * stages left dirty (bench/mysql-write-back.ts), as the first one does on a server at rest.
 */
const WRITE_BACK_BEFORE: ReadonlySet<StageName> = new Set(['drain', 'raw', 'peer']);

async function writeBackBefore(ctx: BenchContext, stage: StageName, signal: AbortSignal): Promise<void> {
  const w = await writeBackDirtyPages(ctx.base.mysqlUrl, undefined, undefined, signal);
  if (w === null) ctx.print(`MySQL: InnoDB's dirty pages could not be written back before ${stage} (SET GLOBAL refused); it starts as the server is`);
  else if (w.seconds > 0) ctx.print(`MySQL: InnoDB wrote back its dirty pages before ${stage}: ${w.pagesBefore} -> ${w.pagesAfter} in ${round(w.seconds)} s`);
}

/** Each stage's entry, and the field of the result it fills. */
const STAGES: Record<StageName, (ctx: BenchContext, parts: BenchParts) => Promise<unknown>> = {
  drain: async (ctx, p) => (p.drain = await drainStage(ctx)),
  memory: async (ctx, p) => (p.capped = await memoryStage(ctx)),
  naive: async (ctx, p) => (p.naive = await naiveStage(ctx)),
  raw: async (ctx, p) => (p.raw = await rawStage(ctx)),
  cycle: async (ctx, p) => (p.cycle = await cycleStage(ctx)),
  latency: async (ctx, p) => (p.latency = await latencyStage(ctx)),
  sustained: async (ctx, p) => (p.sustained = await sustainedStage(ctx)),
  checkout: async (ctx, p) => (p.checkout = await checkoutStage(ctx)),
  recovery: async (ctx, p) => (p.recovery = await recoveryStage(ctx)),
  peer: async (ctx, p) => (p.peer = await peerStage(ctx)),
};

export async function runBench(o: BenchOptions): Promise<{ file: string; result: PartialBenchResult }> {
  await stackUp(() => {});
  // The host is shared: its load before and after says how much of it the run had.
  const loadAtStart = loadavg().map((x) => round(x, 1));
  o.print(
    loadAtStart[0]! > REPRESENTATIVE_LOAD
      ? `load average ${loadAtStart[0]} at the start, over ${REPRESENTATIVE_LOAD}: the host is busy and this run is NOT representative (it runs all the same)`
      : `load average ${loadAtStart[0]} at the start: a quiet host`,
  );
  const consumers = await consumerEntry(o.consumerFrom, o.print);
  o.print(`consumers run: ${consumers.how}`);
  const restoreEntry = useConsumerEntry(consumers.entry);
  const ctx = new BenchContext(o);
  // What a run killed before its end left changed on the server is put back before this one reads it.
  await restoreLeftSettings(ctx.base.mysqlUrl, o.print);
  const mysql = await sizeServer(ctx.base.mysqlUrl, { bufferPoolMiB: o.mysqlBufferPoolMiB, redoLogMiB: o.mysqlRedoLogMiB }, o.print);
  // A run stopped with Ctrl-C or SIGTERM still puts the MySQL server's sizes back and removes its build
  // of the consumer; what its stages made so far stays, as after any kill.
  // A write-back under way when the run is stopped ends first, putting its own settings back.
  const stopping = new AbortController();
  let writingBack: Promise<void> = Promise.resolve();
  const interrupted = (signal: NodeJS.Signals) => {
    o.print(`${signal}: putting the MySQL server's sizes back and removing the consumer build, then stopping`);
    stopping.abort();
    void writingBack
      .catch(() => {})
      .then(() => mysql.restore())
      .finally(() => {
        consumers.remove();
        process.exit(signal === 'SIGINT' ? 130 : 143);
      });
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const stages = STAGE_NAMES.filter((s) => !o.only || o.only.includes(s));
    const parts: BenchParts = {};
    for (const stage of stages) {
      if (WRITE_BACK_BEFORE.has(stage)) await (writingBack = writeBackBefore(ctx, stage, stopping.signal));
      await STAGES[stage](ctx, parts);
    }
    // What a stage run alone needed from another one (the 1-process drain, the cycle) is reported too.
    parts.drain ??= await ctx.made<NonNullable<BenchParts['drain']>[number]>('drain1')?.then((d) => [d]);
    parts.cycle ??= await ctx.made<NonNullable<BenchParts['cycle']>>('cycle');
    const result = assembleResult({ id: ctx.id, o, base: ctx.base, loadAtStart, mysql: mysql.during }, stages, parts);
    return { file: writeResult(o.outDir, result), result };
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await mysql.restore();
    await ctx.close();
    restoreEntry();
    consumers.remove();
  }
}
