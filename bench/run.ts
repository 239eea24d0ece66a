/**
 * The benchmark: a list of stages (bench/stages/), each measuring one thing in its own namespace on the
 * same data and verifying the run's MySQL state (a fast wrong run is a failed run): drain throughput
 * with 1 and 2 consumer processes; the drain with a capped heap; a naive consumer (one message at a time
 * per partition, all partitions at once); the raw limits of Kafka, Redis and MySQL with bare clients;
 * the minimal flush cycle; end-to-end latency at fractions of the drain capacity; a sustained run at 50%;
 * the checkout's wait for its answer (redeem(), POST ?wait, HTTP intake); recovery after kill -9; a Kafka Connect peer. `--only` runs some of them (and what they need).
 */
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

import { loadConfig } from '../lib/config.js';
import { Runtime } from '../lib/runtime.js';
import { useConsumerEntry } from '../scripts/harness/consumer-process.js';
import { killLiveChildren } from '../scripts/harness/live-children.js';
import { stackUp } from '../scripts/stack/stack.js';
import { consumerEntry } from './consumer-entry.js';
import { removeLeftovers } from './leftovers.js';
import { holdSettingsLock, restoreLeftSettings } from './mysql-globals.js';
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

/** Longest a stopped run spends removing its namespace before it ends anyway, saying what is left. */
const REMOVAL_DEADLINE_MS = 120_000;

/**
 * What a run stopped by `signal` does before it ends the process (exit code 130 for SIGINT, 143 for
 * SIGTERM): each step runs even when one before it failed, and a failure is printed with what is left.
 */
async function stopAfterSignal(
  signal: NodeJS.Signals,
  print: (line: string) => void,
  steps: { writingBack(): Promise<void>; restoreServer(): Promise<void>; removeNamespace(): Promise<void>; removeBuild(): void },
): Promise<never> {
  const attempt = async (what: string, step: () => Promise<unknown>) => {
    try {
      await step();
    } catch (error) {
      print(`${what} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  await steps.writingBack().catch(() => {});
  const killed = await killLiveChildren();
  if (killed > 0) print(`stopped ${killed} process(es) of the run`);
  await attempt("putting the MySQL server's sizes back", steps.restoreServer);
  await attempt("removing the run's topics, Redis keys and databases (`redeem cleanup` with its names removes what is left)", () =>
    Promise.race([
      steps.removeNamespace(),
      sleep(REMOVAL_DEADLINE_MS, undefined, { ref: false }).then(() => {
        throw new Error(`not done within ${REMOVAL_DEADLINE_MS / 1000} s`);
      }),
    ]),
  );
  await attempt('removing the consumer build', async () => steps.removeBuild());
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

/**
 * What a run does before its stages, while it holds the server's settings lock: its load reading and
 * its build fall outside any other run's measurement, and the server's settings are its own to change.
 */
async function prepareRun(o: BenchOptions, ctx: BenchContext) {
  // What a killed run left on the servers (once, millions of Redis keys that slowed every later run) goes
  // first, so that its removal is over before the load is read.
  await removeLeftovers({ kafka: ctx.rt.kafka(), redis: ctx.rt.redis(), mysqlUrl: ctx.base.mysqlUrl, registry: ctx.rt.registry(), print: o.print });
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
  // What a run killed before its end left changed on the server is put back before this one reads it.
  await restoreLeftSettings(ctx.base.mysqlUrl, o.print);
  const mysql = await sizeServer(ctx.base.mysqlUrl, { bufferPoolMiB: o.mysqlBufferPoolMiB, redoLogMiB: o.mysqlRedoLogMiB }, o.print);
  return { loadAtStart, consumers, restoreEntry, mysql };
}

/**
 * `bench --remove-leftovers`: removes now what runs that did not end left behind (every run also does
 * at its start); refused while a run is under way. Returns how many runs' namespaces it removed.
 */
export async function removeBenchLeftovers(print: (line: string) => void): Promise<number> {
  const base = loadConfig(process.env);
  const lock = await holdSettingsLock(base.mysqlUrl, print, 0);
  const rt = new Runtime(base);
  try {
    return await removeLeftovers({ kafka: rt.kafka(), redis: rt.redis(), mysqlUrl: base.mysqlUrl, registry: rt.registry(), print });
  } finally {
    await rt.close();
    await lock.release();
  }
}

export async function runBench(o: BenchOptions): Promise<{ file: string; result: PartialBenchResult }> {
  await stackUp(() => {});
  const ctx = new BenchContext(o);
  // One run at a time per server, from its load reading to its own restore (a run waiting here reads
  // the host only once the run before it has ended).
  const settingsLock = await holdSettingsLock(ctx.base.mysqlUrl, o.print);
  const { loadAtStart, consumers, restoreEntry, mysql } = await prepareRun(o, ctx).catch(async (error: unknown) => {
    await settingsLock.release();
    throw error;
  });
  o.print(`namespace: bench-${ctx.id} (its topics, consumer groups and Redis keys; databases bench_${ctx.id}_*)`);
  // A run stopped with Ctrl-C or SIGTERM kills the consumers (and any other child) it started, puts the
  // MySQL server's sizes back, removes what its stages made (a stopped run left millions of Redis keys
  // that slowed every later run) and its build of the consumer, and then ends the process: the stage in
  // flight is not waited for. A write-back under way ends first, putting its own settings back. A second
  // signal ends the process at once.
  const stopping = new AbortController();
  let writingBack: Promise<void> = Promise.resolve();
  let stopped: Promise<never> | null = null;
  const interrupted = (signal: NodeJS.Signals) => {
    o.print(`${signal}: stopping the run's processes, putting the MySQL server's sizes back and removing bench-${ctx.id}; ${signal} again quits at once`);
    stopping.abort();
    // The stage in flight is abandoned: what fails in it from here (its consumer killed, its clients
    // closed) is the stop's own doing, and must not end the process before the cleanup does.
    process.on('unhandledRejection', () => {});
    stopped = stopAfterSignal(signal, o.print, {
      writingBack: () => writingBack,
      restoreServer: () => mysql.restore(),
      removeNamespace: () => ctx.close(),
      removeBuild: () => consumers.remove(),
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
    // After a signal, the handler ends the process once its cleanup is done; nothing here may end it first.
    if (stopped) await stopped;
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    // The namespace goes before the lock: the next run, once it holds the lock, takes any bench
    // namespace it finds for a killed run's leftovers (bench/leftovers.ts).
    try {
      await mysql.restore();
    } finally {
      try {
        await ctx.close();
      } finally {
        await settingsLock.release();
      }
    }
    restoreEntry();
    consumers.remove();
  }
}
