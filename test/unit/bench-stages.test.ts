/**
 * The benchmark as stages: `--only` names known stages, a result of some stages carries only their
 * fields (and ratios only where both sides were measured), and a full result keeps the shape of the
 * result files that `bench --compare` and bench/markdown.ts read.
 */
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { parseLoadFractions, parseRates, parseStages, STAGE_NAMES } from '../../bench/options.js';
import { formatBench } from '../../bench/report.js';
import { assembleResult, type BenchParts, isComplete, type PartialBenchResult } from '../../bench/result.js';
import { loadConfig } from '../../lib/config.js';

const drainRun = (processes: number, perSecond: number) => ({
  processes,
  requests: 1000,
  perSecond,
  seconds: 1000 / perSecond,
  cpuSeconds: 2,
  peakRssMiB: 100,
  mysqlStatements: 5,
  redisRoundTrips: 2,
  correct: true,
});
const latency = { p50: 10, p95: 20, p99: 30, max: 40, samples: 100 };
function checkoutWait(p99: number, met: boolean) {
  return {
    how: 'redeem()',
    offeredPerSecond: 500,
    achievedPerSecond: 500,
    requests: 1000,
    decidedInTime: 1000,
    ...latency,
    p99,
    answersMatchMySql: true,
    slowest: { requests: 10, send: 1, pipeline: p99 - 2, answer: 1 },
    consumer: { endToEnd: null, stages: { mysql: { mean: 20, p50: 10, p99: 90 } } },
    goalP99Ms: 100,
    met,
    heldBy: met ? null : 'the pipeline, its mysql stage',
    correct: true,
  };
}
const PARTS: Required<BenchParts> = {
  drain: [drainRun(1, 1000), drainRun(2, 1500)],
  capped: { ...drainRun(1, 900), nodeOptions: '--max-old-space-size=192' },
  naive: { requests: 100, seconds: 1, perSecond: 100, partitionsConcurrently: 6, correct: true },
  raw: {
    raw: {
      kafka: { requests: 1000, seconds: 0.11, perSecond: 9000, how: 'k' },
      redis: { requests: 1000, seconds: 0.11, perSecond: 9000, how: 'r' },
      mysql: { requests: 1000, seconds: 0.11, perSecond: 9000, how: 'm' },
    },
    rawRowsCorrect: true,
    combinedCeiling: 3000,
  },
  cycle: { medianMs: 10, p90Ms: 12, samples: 40, steps: { redisLookup: 1, mysqlCommit: 2, redisUpdate: 1, auditProduce: 1, offsetCommit: 5 } },
  latency: [
    {
      offeredPerSecond: 500,
      fractionOfCapacity: 0.5,
      ...latency,
      achievedPerSecond: 500,
      keptUp: true,
      drainAfterSeconds: 0.1,
      p99OverCycle: 3,
      correct: true,
    },
  ],
  sustained: null,
  checkout: {
    fractionOfCapacity: 0.5,
    drainPerSecond: 1000,
    loadGenerator: 'autocannon',
    redeem: checkoutWait(40, true),
    http: checkoutWait(150, false),
    intake: {
      how: 'POST',
      connections: 100,
      seconds: 1,
      accepted: 800,
      perSecond: 800,
      drainPerSecond: 1000,
      connectionResets: 0,
      cpu: { serve: 1, loadGenerator: 0.5, hostBusyCores: 1.9 },
      met: false,
      heldBy: "redeem serve's CPU",
      correct: true,
    },
  },
  recovery: { sessionTimeoutMs: 10000, killedAfterDecided: 250, firstDecisionSeconds: 6, drainedSeconds: 9, correct: true },
  peer: { rows: 1000, seconds: 1, perSecond: 500, how: 'sink', expectedRows: 1000, correct: true },
};
const options = {
  requests: 1000,
  coupons: 10,
  naiveRequests: 100,
  loadFractions: [0.5],
  rates: [],
  latencySeconds: 1,
  latencyWarmupSeconds: 0,
  latencyWhatIf: {},
  sustainedSeconds: 0,
  checkoutFraction: 0.5,
  checkoutSeconds: 1,
  heapCapMiB: 192,
  mysqlBufferPoolMiB: 2048,
  mysqlRedoLogMiB: 1024,
  consumerFrom: 'compiled' as const,
  peer: true,
  seed: 1,
  outDir: '',
  print: () => {},
};
const run = { id: 'x', o: options, base: loadConfig({}), loadAtStart: [0, 0, 0], mysql: { bufferPoolMiB: 2048, redoLogMiB: 1024 } };

describe('bench --only', () => {
  it('takes known stages, comma-separated, and refuses others', () => {
    expect(parseStages('latency, raw')).toEqual(['latency', 'raw']);
    expect(() => parseStages('latency,speed')).toThrow(/unknown: speed/);
    expect(() => parseStages(',')).toThrow(/none given/);
  });

  it('takes load fractions and rates, empty as none, and refuses what is not one', () => {
    expect(parseLoadFractions('0.25, 0.5')).toEqual([0.25, 0.5]);
    expect(parseLoadFractions('')).toEqual([]);
    for (const bad of ['0', '1.5', 'half', '-0.1']) expect(() => parseLoadFractions(bad)).toThrow(new RegExp(`not: ${bad}`));
    expect(parseRates('5000,9000')).toEqual([5000, 9000]);
    expect(parseRates('')).toEqual([]);
    for (const bad of ['0', '1.5', 'fast']) expect(() => parseRates(bad)).toThrow(new RegExp(`not: ${bad}`));
  });
});

describe('a bench result', () => {
  it('of every stage has the fields of the result files, ratios included', () => {
    const r = assembleResult(run, STAGE_NAMES, PARTS);
    expect(isComplete(r)).toBe(true);
    const file = JSON.parse(readFileSync(new URL('../../bench/results/baseline-2026-12-05.json', import.meta.url), 'utf8')) as object;
    // The file predates the checkout stage: a newer result has its fields and that one more.
    expect(Object.keys(r).filter((k) => k !== 'stages' && k !== 'checkout')).toEqual(Object.keys(file));
    expect(r.checkout?.redeem.p99).toBe(40);
    expect(r.ratios).toEqual({
      pipelineOverNaive: 10,
      combinedCeiling: 3000,
      shareOfCeiling: 0.33,
      p99OverCycleAt50: 3,
      cappedRssMiB: 100,
      cappedThroughputShare: 0.9,
    });
    expect(r.peer).toMatchObject({ pipelineOverPeer: 2 });
    expect(r.cost).toEqual({ peakRssMiB: 100, cpuSecondsPer1000: 2, mysqlStatementsPer1000: 5, redisRoundTripsPer1000: 2 });
    expect(r.correct).toBe(true);
  });

  it('of some stages carries only theirs, and prints only their rows', () => {
    const r: PartialBenchResult = JSON.parse(
      JSON.stringify(assembleResult(run, ['recovery', 'peer'], { recovery: PARTS.recovery, peer: PARTS.peer })),
    ) as PartialBenchResult;
    expect(isComplete(r)).toBe(false);
    expect(r.stages).toEqual(['recovery', 'peer']);
    expect(Object.keys(r)).not.toContain('naive');
    expect(Object.keys(r)).not.toContain('drain');
    expect(r.ratios).toEqual({});
    expect(r.peer).not.toHaveProperty('pipelineOverPeer');
    const printed = formatBench(r);
    expect(printed).toMatch(/recovery after kill -9 \(session 10 s\)\s+first decision 6 s/);
    expect(printed).not.toMatch(/naive|raw/);
    expect(printed).toMatch(/every run correct\s+yes/);
  });

  it('prints the checkout figures beside their goals, and what holds a missed one', () => {
    const printed = formatBench(assembleResult(run, ['checkout'], { checkout: PARTS.checkout }));
    expect(printed).toMatch(/redeem\(\) p99 at 50% of drain\s+40 ms {2}\(goal <= 100 ms: met\)/);
    expect(printed).toMatch(/POST \?wait p99 at 50% of drain\s+150 ms {2}\(goal <= 100 ms: NOT met\)/);
    expect(printed).toMatch(/HTTP intake \(no wait\) \/ drain\s+800 \/ 1,000 requests\/s {2}\(goal >= 1x: NOT met\)/);
    expect(printed).toMatch(/p99 held by\s+the pipeline, its mysql stage/);
    expect(printed).toMatch(/intake held by\s+redeem serve's CPU/);
  });

  it("prints the hot path's goals the run has figures for, and what held a latency goal missed", () => {
    const stages = { kafka: { mean: 3, p50: 2, p99: 9 }, mysql: { mean: 12.1, p50: 10, p99: 40 }, commit: { mean: 60, p50: 55, p99: 140 } };
    const hostCpu = { seconds: 20, cores: { consumer: 0.5 }, hostBusyCores: 1.51, consumerMainThread: { ran: 0.45, waited: 0.36 } };
    const at = (fraction: number, p50: number, p99: number, settings?: string) => ({
      ...PARTS.latency[0]!,
      fractionOfCapacity: fraction,
      p50,
      p99,
      ...(settings ? { settings } : {}),
      consumer: { endToEnd: null, stages, cpuSecondsPer1000: 0.03, flushes: 100 },
      hostCpu,
    });
    const r = assembleResult(run, ['latency', 'peer'], {
      // The what-if run at 50% meets the goal; the series' own run at 50% does not.
      latency: [at(0.5, 10, 30, 'FETCH_MAX_WAIT_MS=10'), at(0.25, 6, 17), at(0.5, 20, 68)],
      peer: PARTS.peer,
      drain: [drainRun(1, 1000)],
    });
    const printed = formatBench({ ...r, machine: { ...r.machine, cpus: 2 } });
    expect(printed).toMatch(/p99 at 25% of drain\s+17 ms {2}\(goal <= 30 ms: met\)\n/);
    expect(printed).toMatch(/p50 \/ p99 at 50% of drain\s+20 \/ 68 ms {2}\(goal <= 15 \/ 50 ms: NOT met\)\n/);
    // The longest stage on the request's way (the offset commit, after the answer, is not on it).
    expect(printed).toMatch(
      /held by\s+its mysql stage \(mean 12.1 ms\); the consumer's main thread waited for a core 36% of the window \(it ran 45%\); the host 1.51 of 2 cores busy/,
    );
    expect(printed).toMatch(/pipeline \/ Kafka Connect \+ Debezium JDBC sink\s+2x {2}\(goal >= 1.2x: met\)/);
    expect(printed).toMatch(/consumer peak RSS, 1-process drain\s+100 MiB {2}\(goal <= 256 MiB: met\)/);
    expect(printed.match(/held by/g)).toHaveLength(1);
    expect(printed).not.toMatch(/sustained/);
  });

  it("calls a sustained run shorter than the goal's 10 minutes not met, and says so", () => {
    const sustained = {
      ...PARTS.latency[0]!,
      offeredTarget: 500,
      seconds: 60,
      offeredPerSecond: 500,
      decidedPerSecond: 500,
      maxLag: 10,
      lagAtEndOfProduction: 5,
      series: [],
    };
    const printed = formatBench(assembleResult(run, ['sustained'], { sustained }));
    expect(printed).toMatch(
      /sustained 60 s at 50% of drain\s+p99 30 ms, kept up \(the goal's run is 600 s\) {2}\(goal 600 s, keeps up, p99 <= 100 ms: NOT met\)/,
    );
    expect(printed).not.toMatch(/held by/);
  });

  it('is incorrect when its checkout answers were', () => {
    const wrong = { ...PARTS.checkout, http: { ...PARTS.checkout.http, correct: false } };
    expect(assembleResult(run, ['checkout'], { checkout: wrong }).correct).toBe(false);
  });

  it('is incorrect when any stage it ran was', () => {
    const r = assembleResult(run, ['naive'], { naive: { ...PARTS.naive, correct: false } });
    expect(r.correct).toBe(false);
  });
});
