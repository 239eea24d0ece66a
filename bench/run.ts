import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Redis } from 'ioredis';
import type { Admin } from 'kafkajs';

import type { SourcedRequest } from '../consumers/types.js';
import { type Config, loadConfig } from '../lib/config.js';
import { generateCoupons, upsertCoupons } from '../lib/coupon-catalog.js';
import { ensureTopics, groupProgress, readTopicFromStart } from '../lib/kafka.js';
import { createDatabaseIfMissing, createKnex, migrateToLatest, withDatabase } from '../lib/mysql.js';
import { removeNamespace } from '../lib/namespace.js';
import { ProgressBar, RateLimiter } from '../lib/progress.js';
import { isCluster, type RedisClient } from '../lib/redis.js';
import { Runtime } from '../lib/runtime.js';
import { ensurePipelineTopics } from '../lib/topics.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../producers/checkout-simulator.js';
import { RedemptionProducer } from '../producers/redemption-producer.js';
import type { RedemptionDecided, RedemptionRequested } from '../schemas/types.js';
import { ConsumerProcess } from '../scripts/harness/consumer-process.js';
import { stackUp } from '../scripts/stack/stack.js';
import { verify } from '../verify/verify.js';
import { benchChart, sustainedChart } from './chart.js';
import { ensureConnectJars, runConnectPeer } from './connect-peer.js';
import { type FlushCycle, minimalFlushCycle } from './cycle.js';
import { endToEndLatency, type LatencySummary } from './latency.js';
import { runNaiveConsumer } from './naive-consumer.js';
import { combinedCeiling, rawKafka, rawMysql, rawRedis, type StageRate } from './raw-stages.js';
import { sampleEverySecond, summariseSustained, type SustainedSample } from './sustained.js';

/**
 * The benchmark. Everything is measured in the same run, on the same data, so that each figure is read
 * against a baseline of this host at this moment (the machine is shared; absolute figures move):
 * drain throughput with 1 and 2 consumer processes (and 1 with a capped heap); a naive consumer (one
 * message at a time per partition, all partitions at once); the raw limits of Kafka, Redis and MySQL with
 * bare clients and their combined ceiling; the minimal flush cycle; end-to-end latency at 25% and 50% of
 * the measured drain capacity; a sustained run at 50%; recovery after kill -9. Every run's MySQL state is
 * checked against the reference rules at the end; a fast wrong run is a failed run.
 */
export interface BenchOptions {
  requests: number;
  coupons: number;
  naiveRequests: number;
  /** offered load of the latency runs, as fractions of the measured 1-process drain rate */
  loadFractions: number[];
  /** extra offered rates (requests/s) for latency runs, besides the fractions */
  rates: number[];
  latencySeconds: number;
  /** consumer settings (KEY=VALUE) for one more latency run at 50%, to show what the defaults cost in latency; empty skips it */
  latencyWhatIf: Record<string, string>;
  /** the sustained run at 50% of drain capacity; 0 skips it */
  sustainedSeconds: number;
  /** V8 old-space cap (MiB) of the memory-capped drain; 0 skips it */
  heapCapMiB: number;
  /** run the Kafka Connect + Debezium JDBC sink peer on the same topic */
  peer: boolean;
  /** group session timeout of the recovery run's consumers; undefined = the configured one */
  recoverySessionTimeoutMs?: number;
  seed: number;
  outDir: string;
  print(line: string): void;
}

export const SMOKE: Partial<BenchOptions> = {
  requests: 4000,
  coupons: 200,
  naiveRequests: 500,
  loadFractions: [0.5],
  rates: [],
  latencySeconds: 3,
  latencyWhatIf: {},
  sustainedSeconds: 3,
  heapCapMiB: 128,
  // Java, Maven and a JVM start are not what the smoke run checks.
  peer: false,
  // The smoke run checks that recovery is measured, not how long the configured timeout is.
  recoverySessionTimeoutMs: 6000,
};

interface ConsumerRun {
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

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

export async function runBench(o: BenchOptions): Promise<{ file: string; result: BenchResult }> {
  await stackUp(() => {});
  const id = randomBytes(3).toString('hex');
  // The host is shared: its load before and after says how much of it the run had.
  const loadAtStart = loadavg().map((x) => round(x, 1));
  const base = loadConfig(process.env);
  const ns = (run: string): Config => ({
    ...base,
    redemptionTopic: `bench-${id}.requested`,
    auditTopic: `bench-${id}-${run}.decided`,
    consumerGroup: `bench-${id}-${run}`,
    redisKeyPrefix: `bench-${id}-${run}`,
    mysqlUrl: withDatabase(base.mysqlUrl, `bench_${id}_${run}`),
    metricsPort: 0,
    logLevel: 'warn',
  });
  const envOf = (c: Config): Record<string, string> => ({
    REDEMPTION_TOPIC: c.redemptionTopic,
    AUDIT_TOPIC: c.auditTopic,
    CONSUMER_GROUP: c.consumerGroup,
    REDIS_KEY_PREFIX: c.redisKeyPrefix,
    MYSQL_URL: c.mysqlUrl,
    METRICS_PORT: '0',
    LOG_LEVEL: 'warn',
  });
  const rt = new Runtime(ns('setup'));
  const databases: string[] = [];
  const coupons = generateCoupons({
    count: o.coupons,
    prefix: 'BENCH',
    campaigns: 10,
    quota: Math.max(10, Math.round((o.requests / o.coupons) * 3)),
    perUserLimit: 3,
    validFrom: new Date('2026-01-01T00:00:00Z'),
    validUntil: new Date('2027-01-01T00:00:00Z'),
  });
  const simulation = (count: number, seed: number) =>
    simulateCheckout({
      ...DEFAULT_SIMULATION,
      count,
      couponCodes: coupons.map((c) => c.code),
      users: Math.max(1000, o.requests / 20),
      seed,
      retryShare: 0.03,
      refundShare: 0.02,
    });

  const prepare = async (c: Config) => {
    databases.push(c.mysqlUrl);
    await migrateToLatest(c.mysqlUrl);
    const r = new Runtime(c);
    try {
      await upsertCoupons(r.knex(), coupons);
    } finally {
      await r.close();
    }
    const admin = rt.kafka().admin();
    await admin.connect();
    try {
      await ensurePipelineTopics(admin, c, rt.logger);
    } finally {
      await admin.disconnect();
    }
  };
  const check = async (c: Config, stops?: Map<number, number>) => {
    const r = new Runtime(c);
    try {
      const report = await verify({
        kafka: r.kafka(),
        knex: r.knex(),
        decoder: r.registry().decoderFor<RedemptionRequested>('requested'),
        topic: c.redemptionTopic,
        maxMessageBytes: c.maxMessageBytes,
        stops,
      });
      if (!report.equal) o.print(`  INCORRECT: ${report.differences.slice(0, 5).join('; ')}`);
      return report.equal;
    } finally {
      await r.close();
    }
  };

  try {
    // 1. The data, produced ahead of time.
    o.print(`bench ${id}: producing ${o.requests} requests over ${o.coupons} coupons (seed ${o.seed})`);
    await prepare(ns('c1'));
    const producer = await RedemptionProducer.connect(
      rt.kafka(),
      await rt.registry().codecFor<RedemptionRequested>('requested', ns('c1').redemptionTopic),
      ns('c1').redemptionTopic,
    );
    const bar = new ProgressBar('produce', o.requests);
    let sent = 0;
    let batch: RedemptionRequested[] = [];
    for (const r of simulation(o.requests, o.seed)) {
      batch.push(r);
      if (batch.length === 2000) {
        await producer.sendAll(batch);
        sent += batch.length;
        batch = [];
        bar.update(sent);
      }
    }
    await producer.sendAll(batch);
    bar.finish(o.requests);
    await producer.disconnect();

    // 2. Drain throughput: 1 and 2 consumer processes, then 1 with a capped heap.
    const drain: ConsumerRun[] = [];
    const drainOnce = async (run: string, processes: number, nodeOptions?: string) => {
      const c = ns(run);
      if (run !== 'c1') await prepare(c);
      o.print(`drain: ${processes} consumer process(es)${nodeOptions ? ` with NODE_OPTIONS=${nodeOptions}` : ''}`);
      const env = nodeOptions ? { ...envOf(c), NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${nodeOptions}`.trim() } : envOf(c);
      const d = await drainRun(rt, c, env, processes, o.requests);
      if (nodeOptions) d.nodeOptions = nodeOptions;
      d.correct = await check(c);
      o.print(`  ${d.perSecond} requests/s, peak RSS ${d.peakRssMiB} MiB, correct: ${d.correct}`);
      return d;
    };
    drain.push(await drainOnce('c1', 1));
    drain.push(await drainOnce('c2', 2));
    const capped = o.heapCapMiB > 0 ? await drainOnce('cap', 1, `--max-old-space-size=${o.heapCapMiB}`) : null;
    const one = drain[0]!;

    // 3. The naive baseline, on the first requests of the same topic.
    const naiveConfig = ns('naive');
    await prepare(naiveConfig);
    const stops = await proportionalStops(rt, naiveConfig.redemptionTopic, o.naiveRequests);
    o.print(`naive baseline: ${[...stops.values()].reduce((a, b) => a + b, 0)} requests, one at a time per partition, ${stops.size} partitions at once`);
    const naiveRt = new Runtime(naiveConfig);
    // A connection per partition: the naive consumer holds one through each message's transaction.
    const naiveKnex = createKnex(naiveConfig.mysqlUrl, { min: 0, max: stops.size + 1 }, naiveConfig.mysqlLockWaitTimeoutSeconds);
    const naive = await runNaiveConsumer({
      kafka: naiveRt.kafka(),
      knex: naiveKnex,
      redis: standalone(await naiveRt.connectedRedis()),
      decoder: naiveRt.registry().decoderFor<RedemptionRequested>('requested'),
      auditCodec: await naiveRt.registry().codecFor<RedemptionDecided>('decided', naiveConfig.auditTopic),
      topic: naiveConfig.redemptionTopic,
      auditTopic: naiveConfig.auditTopic,
      groupId: naiveConfig.consumerGroup,
      prefix: naiveConfig.redisKeyPrefix,
      stops,
    });
    await naiveKnex.destroy();
    await naiveRt.close();
    const naivePerSecond = Math.round(naive.messages / naive.seconds);
    const naiveCorrect = await check(naiveConfig, stops);
    o.print(`  ${naivePerSecond} requests/s, correct: ${naiveCorrect}`);

    // 4. Raw limits of each service with bare clients, on the same data.
    o.print('raw limits: Kafka (bare consumer + decode), Redis (pipelined MGETs), MySQL (plain upserts, one connection)');
    const kafkaRaw = await rawKafka(
      rt.kafka(),
      ns('c1').redemptionTopic,
      base.topicPartitions,
      rt.registry().decoderFor<RedemptionRequested>('requested'),
      o.requests,
    );
    const redisRaw = await rawRedis(standalone(await rt.connectedRedis()), `bench-${id}-raw`, kafkaRaw.requests, base.flushMaxMessages);
    const rawConfig = ns('raw');
    await prepare(rawConfig);
    const mysqlRaw = await rawMysql(rawConfig.mysqlUrl, kafkaRaw.requests, base.flushMaxMessages);
    const rawCorrect = await checkRawRows(rawConfig.mysqlUrl, kafkaRaw.requests);
    kafkaRaw.requests.length = 0;
    const raw: Record<string, StageRate> = { kafka: kafkaRaw.rate, redis: redisRaw, mysql: mysqlRaw };
    const ceiling = combinedCeiling(Object.values(raw).map((r) => r.perSecond));
    o.print(
      `  kafka ${raw.kafka!.perSecond}/s, redis ${raw.redis!.perSecond}/s, mysql ${raw.mysql!.perSecond}/s (rows checked: ${rawCorrect}); combined ceiling ${ceiling}/s`,
    );

    // 5. The minimal flush cycle: one round trip per step, no batching.
    o.print('minimal flush cycle');
    const cycleTopic = `bench-${id}-cycle.requested`;
    const admin = rt.kafka().admin();
    await admin.connect();
    try {
      await ensureTopics(
        admin,
        [
          { topic: cycleTopic, partitions: 1 },
          { topic: `${cycleTopic}.audit`, partitions: 1 },
        ],
        rt.logger,
      );
    } finally {
      await admin.disconnect();
    }
    const cycle = await minimalFlushCycle({
      kafka: rt.kafka(),
      redis: standalone(await rt.connectedRedis()),
      mysqlUrl: rawConfig.mysqlUrl,
      topic: cycleTopic,
      auditTopic: `${cycleTopic}.audit`,
      samples: 40,
    });
    o.print(
      `  median ${cycle.medianMs} ms (${Object.entries(cycle.steps)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')})`,
    );

    // 6. Latency at fractions of the measured drain capacity (and any fixed rates asked for).
    const offeredRates = [
      ...o.loadFractions.map((f) => ({ fraction: f, rate: Math.max(1, Math.round(one.perSecond * f)) })),
      ...o.rates.map((r) => ({ fraction: null, rate: r })),
    ];
    const latency: LatencyRun[] = [];
    for (const { fraction, rate } of offeredRates) {
      const c = { ...ns(`lat${rate}`), redemptionTopic: `bench-${id}-lat${rate}.requested` };
      await prepare(c);
      o.print(`latency at ${rate}/s offered${fraction !== null ? ` (${fraction * 100}% of drain capacity)` : ''} for ${o.latencySeconds} s`);
      const l = await loadRun(rt, c, envOf(c), rate, o.latencySeconds, simulation, o.seed + rate, false);
      const run: LatencyRun = {
        offeredPerSecond: rate,
        fractionOfCapacity: fraction,
        ...l.summary,
        p99OverCycle: round(l.summary.p99 / cycle.medianMs, 1),
        correct: await check(c),
      };
      latency.push(run);
      o.print(
        `  p50 ${run.p50} ms, p95 ${run.p95} ms, p99 ${run.p99} ms (${run.p99OverCycle}x the cycle), max ${run.max} ms; kept up: ${run.keptUp}; correct: ${run.correct}`,
      );
    }

    // 6b. The same 50% load with other consumer settings (a shorter fetch linger, say): what the defaults cost.
    if (Object.keys(o.latencyWhatIf).length > 0) {
      const rate = Math.max(1, Math.round(one.perSecond * 0.5));
      const c = { ...ns('whatif'), redemptionTopic: `bench-${id}-whatif.requested` };
      await prepare(c);
      const settings = Object.entries(o.latencyWhatIf)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      o.print(`latency at ${rate}/s offered (50%) with ${settings} for ${o.latencySeconds} s`);
      const l = await loadRun(rt, c, { ...envOf(c), ...o.latencyWhatIf }, rate, o.latencySeconds, simulation, o.seed + rate, false);
      const run: LatencyRun = {
        offeredPerSecond: rate,
        fractionOfCapacity: null,
        settings,
        ...l.summary,
        p99OverCycle: round(l.summary.p99 / cycle.medianMs, 1),
        correct: await check(c),
      };
      latency.push(run);
      o.print(
        `  p50 ${run.p50} ms, p95 ${run.p95} ms, p99 ${run.p99} ms (${run.p99OverCycle}x the cycle), max ${run.max} ms; kept up: ${run.keptUp}; correct: ${run.correct}`,
      );
    }

    // 7. Sustained load at 50% of drain capacity, sampled every second.
    let sustained: SustainedRun | null = null;
    if (o.sustainedSeconds > 0) {
      const rate = Math.max(1, Math.round(one.perSecond * 0.5));
      const c = { ...ns('sus'), redemptionTopic: `bench-${id}-sus.requested` };
      await prepare(c);
      o.print(`sustained: ${rate}/s offered (50% of drain capacity) for ${o.sustainedSeconds} s`);
      const l = await loadRun(rt, c, envOf(c), rate, o.sustainedSeconds, simulation, o.seed + 1, true);
      sustained = {
        offeredTarget: rate,
        seconds: o.sustainedSeconds,
        ...summariseSustained(l.samples, o.sustainedSeconds),
        ...l.summary,
        series: l.samples,
        correct: await check(c),
      };
      o.print(`  decided ${sustained.decidedPerSecond}/s on average, max lag ${sustained.maxLag}, p99 ${sustained.p99} ms; correct: ${sustained.correct}`);
    }

    // 8. Recovery after kill -9, on the drain data.
    const recConfig = ns('rec');
    await prepare(recConfig);
    o.print(
      `recovery: kill -9 a consumer mid-drain, start a fresh one${o.recoverySessionTimeoutMs ? ` (session timeout ${o.recoverySessionTimeoutMs} ms)` : ` (session timeout ${base.sessionTimeoutMs} ms, as configured)`}`,
    );
    const recEnv = o.recoverySessionTimeoutMs
      ? {
          ...envOf(recConfig),
          SESSION_TIMEOUT_MS: String(o.recoverySessionTimeoutMs),
          HEARTBEAT_INTERVAL_MS: String(Math.floor(o.recoverySessionTimeoutMs / 4)),
        }
      : envOf(recConfig);
    const recovery = {
      sessionTimeoutMs: o.recoverySessionTimeoutMs ?? base.sessionTimeoutMs,
      ...(await recoveryRun(rt, recConfig, recEnv, o.requests)),
      correct: await check(recConfig),
    };
    o.print(`  first decision ${recovery.firstDecisionSeconds} s after the kill, drained ${recovery.drainedSeconds} s after it; correct: ${recovery.correct}`);

    // 9. A generic sink on the same topic: Kafka Connect with the Debezium JDBC sink, upserting the requests.
    let peer: BenchResult['peer'] = null;
    if (o.peer) {
      o.print('peer: Kafka Connect standalone + Debezium JDBC sink (upsert) on the same topic');
      const missing = ensureConnectJars();
      if (missing) peer = { error: missing };
      else {
        const peerConfig = ns('peer');
        databases.push(peerConfig.mysqlUrl);
        await createDatabaseIfMissing(peerConfig.mysqlUrl);
        const expectedRows = await distinctRequests(rt, peerConfig.redemptionTopic, o.requests);
        try {
          const r = await runConnectPeer({
            brokers: base.kafkaBrokers,
            registryUrl: base.schemaRegistryUrl,
            topic: peerConfig.redemptionTopic,
            mysqlUrl: peerConfig.mysqlUrl,
            expectedRows,
            batchSize: base.flushMaxMessages,
            tasks: base.flushConcurrency,
            timeoutMs: 300_000,
          });
          peer = { ...r, expectedRows, correct: r.rows === expectedRows, pipelineOverPeer: round(one.perSecond / r.perSecond) };
          o.print(`  ${r.perSecond} rows/s (${r.rows} rows in ${round(r.seconds)} s); the pipeline decided ${one.perSecond}/s: ${peer.pipelineOverPeer}x`);
        } catch (error) {
          peer = { error: (error as Error).message };
          o.print(`  peer failed: ${peer.error}`);
        }
      }
    }

    const per1000 = (x: number) => round((x / one.requests) * 1000);
    const half = latency.find((l) => l.fractionOfCapacity === 0.5);
    const result: BenchResult = {
      id,
      at: new Date().toISOString(),
      machine: {
        hostname: hostname(),
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        platform: process.platform,
        loadAverageAtStart: loadAtStart,
        loadAverageAtEnd: loadavg().map((x) => round(x, 1)),
        services: 'Kafka 4.1.1 (KRaft, 1 node), Apicurio Registry 3.0.9, Redis, MariaDB: all on this host',
      },
      settings: {
        requests: o.requests,
        coupons: o.coupons,
        retryShare: 0.03,
        refundShare: 0.02,
        seed: o.seed,
        naiveRequests: naive.messages,
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
      },
      drain,
      capped,
      naive: { requests: naive.messages, seconds: naive.seconds, perSecond: naivePerSecond, partitionsConcurrently: stops.size, correct: naiveCorrect },
      raw,
      rawRowsCorrect: rawCorrect,
      cycle,
      latency,
      sustained,
      recovery,
      peer,
      ratios: {
        pipelineOverNaive: round(one.perSecond / naivePerSecond, 1),
        combinedCeiling: ceiling,
        shareOfCeiling: round(one.perSecond / ceiling),
        p99OverCycleAt50: half ? half.p99OverCycle : null,
        cappedRssMiB: capped ? capped.peakRssMiB : null,
        cappedThroughputShare: capped ? round(capped.perSecond / one.perSecond) : null,
      },
      cost: {
        peakRssMiB: one.peakRssMiB,
        cpuSecondsPer1000: per1000(one.cpuSeconds),
        mysqlStatementsPer1000: per1000(one.mysqlStatements),
        redisRoundTripsPer1000: per1000(one.redisRoundTrips),
      },
      correct:
        drain.every((d) => d.correct) &&
        (capped?.correct ?? true) &&
        naiveCorrect &&
        rawCorrect &&
        latency.every((l) => l.correct) &&
        (sustained?.correct ?? true) &&
        recovery.correct &&
        (peer === null || 'error' in peer || peer.correct),
    };
    mkdirSync(o.outDir, { recursive: true });
    const stamp = result.at.replace(/[:.]/g, '-');
    const file = `${o.outDir}/bench-${stamp}.json`;
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(`${o.outDir}/bench-${stamp}.svg`, benchChart(result));
    if (sustained) writeFileSync(`${o.outDir}/bench-${stamp}-sustained.svg`, sustainedChart(sustained));
    return { file, result };
  } finally {
    await removeNamespace({ kafka: rt.kafka(), redis: rt.redis(), topicPrefix: `bench-${id}`, redisPattern: `bench-${id}*`, databases });
    await rt.close();
  }
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

export interface BenchResult {
  id: string;
  at: string;
  machine: Record<string, unknown>;
  settings: Record<string, unknown>;
  drain: ConsumerRun[];
  capped: ConsumerRun | null;
  naive: { requests: number; seconds: number; perSecond: number; partitionsConcurrently: number; correct: boolean };
  raw: Record<string, StageRate>;
  rawRowsCorrect: boolean;
  cycle: FlushCycle;
  latency: LatencyRun[];
  sustained: SustainedRun | null;
  peer:
    | ({ rows: number; seconds: number; perSecond: number; how: string; expectedRows: number; correct: boolean; pipelineOverPeer: number } | { error: string })
    | null;
  recovery: { sessionTimeoutMs: number; killedAfterDecided: number; firstDecisionSeconds: number | null; drainedSeconds: number; correct: boolean };
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

/** Distinct (coupon, request id) pairs in the topic: the rows an upserting sink must end with. */
async function distinctRequests(rt: Runtime, topic: string, total: number): Promise<number> {
  const decoder = rt.registry().decoderFor<RedemptionRequested>('requested');
  const keys = new Set<string>();
  await readTopicFromStart(rt.kafka(), topic, total, async (batch) => {
    for (const m of batch.messages) {
      const r = await decoder.decode(m.value!);
      keys.add(`${r.coupon_code}\u0000${r.request_id}`);
    }
  });
  return keys.size;
}

/**
 * The raw MySQL stage wrote plain rows without rules; this checks that they all arrived: one decisions
 * row per distinct (coupon, request), one redemptions row per distinct REDEEM.
 */
async function checkRawRows(mysqlUrl: string, requests: readonly SourcedRequest[]): Promise<boolean> {
  const decisions = new Set(requests.map((r) => `${r.request.coupon_code}\u0000${r.request.request_id}`)).size;
  const redemptions = new Set(requests.filter((r) => r.request.op === 'REDEEM').map((r) => `${r.request.coupon_code}\u0000${r.request.request_id}`)).size;
  const knex = createKnex(mysqlUrl, { min: 0, max: 1 });
  try {
    const [[d], [r]] = (await Promise.all([knex('decisions').count({ n: '*' }), knex('redemptions').count({ n: '*' })])) as [[{ n: number }], [{ n: number }]];
    return Number(d.n) === decisions && Number(r.n) === redemptions;
  } finally {
    await knex.destroy();
  }
}

async function committedTotal(admin: Admin, groupId: string, topic: string): Promise<number> {
  const { committed } = await groupProgress(admin, groupId, topic);
  return [...committed.values()].reduce((sum, offset) => sum + offset, 0);
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

/** A partition-proportional cut of the topic holding about `wanted` messages: the naive run's range. */
async function proportionalStops(rt: Runtime, topic: string, wanted: number): Promise<Map<number, number>> {
  const admin = rt.kafka().admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    const total = offsets.reduce((s, x) => s + Number(x.high), 0);
    return new Map(offsets.map((x) => [x.partition, Math.min(Number(x.high), Math.round((Number(x.high) * Math.min(wanted, total)) / total))]));
  } finally {
    await admin.disconnect();
  }
}

/**
 * One consumer running; requests produced at `offered`/s for `seconds`; latency from the two topics.
 * With `sample`, the group's progress is also sampled every second (the sustained run's time series).
 */
async function loadRun(
  rt: Runtime,
  c: Config,
  env: Record<string, string>,
  offered: number,
  seconds: number,
  simulation: (count: number, seed: number) => Generator<RedemptionRequested>,
  seed: number,
  sample: boolean,
): Promise<{ summary: { achievedPerSecond: number; keptUp: boolean; drainAfterSeconds: number } & LatencySummary; samples: SustainedSample[] }> {
  const consumer = new ConsumerProcess({ ...process.env, ...env }, { args: ['--exit-when-idle', '3'] });
  const admin = rt.kafka().admin();
  await admin.connect();
  try {
    for (;;) {
      const { groups } = await admin.describeGroups([c.consumerGroup]);
      if (groups[0]!.state === 'Stable') break;
      await sleep(100);
    }
    const producer = await RedemptionProducer.connect(
      rt.kafka(),
      await rt.registry().codecFor<RedemptionRequested>('requested', c.redemptionTopic),
      c.redemptionTopic,
    );
    const total = offered * seconds;
    const limiter = new RateLimiter(offered);
    const perSend = Math.max(1, Math.round(offered / 100));
    let sent = 0;
    let drained = false;
    const sampler = sample
      ? sampleEverySecond(
          admin,
          c.consumerGroup,
          c.redemptionTopic,
          () => sent,
          () => drained,
        )
      : Promise.resolve([]);
    const started = Date.now();
    let batch: RedemptionRequested[] = [];
    for (const r of simulation(total, seed)) {
      batch.push(r);
      if (batch.length >= perSend) {
        await producer.sendAll(batch);
        sent += batch.length;
        batch = [];
        await limiter.wait(sent);
      }
    }
    await producer.sendAll(batch);
    sent += batch.length;
    const producedFor = (Date.now() - started) / 1000;
    await producer.disconnect();
    const endedAt = Date.now();
    while ((await committedTotal(admin, c.consumerGroup, c.redemptionTopic)) < total) await sleep(50);
    const drainAfterSeconds = (Date.now() - endedAt) / 1000;
    drained = true;
    const samples = await sampler;
    await consumer.exited;
    const decoder = rt.registry().decoderFor<RedemptionDecided>('decided');
    const latency = await endToEndLatency(rt.kafka(), c.redemptionTopic, total, c.auditTopic, total, async (value) => {
      const r = await decoder.decode(value);
      return { partition: r.source_partition, offset: r.source_offset };
    });
    // Kept up: the backlog left when production stopped was worked off within a second.
    return { summary: { achievedPerSecond: Math.round(total / producedFor), keptUp: drainAfterSeconds <= 1, drainAfterSeconds, ...latency }, samples };
  } finally {
    await admin.disconnect();
    consumer.child.kill('SIGKILL');
  }
}

/**
 * Recovery after kill -9: a consumer drains the topic until about a quarter is committed and is killed
 * with SIGKILL (no leave-group, no offset commit); a fresh consumer is started at once. Times, from the
 * kill: the first offsets the fresh consumer commits (its first decisions, which wait for the group to
 * give up on the dead member: the session timeout), and the end of the drain.
 */
async function recoveryRun(
  rt: Runtime,
  c: Config,
  env: Record<string, string>,
  total: number,
): Promise<{ killedAfterDecided: number; firstDecisionSeconds: number | null; drainedSeconds: number }> {
  const start = (extra: Record<string, string> = {}) => new ConsumerProcess({ ...process.env, ...env, ...extra }, { args: ['--exit-when-idle', '3'] });
  const admin = rt.kafka().admin();
  await admin.connect();
  try {
    // Small flushes one at a time, so that the first member cannot commit the whole topic (a smoke-sized
    // one fits a single default flush) before it is seen past a quarter and killed.
    const first = start({ FLUSH_MAX_MESSAGES: String(Math.max(10, Math.floor(total / 20))), FLUSH_CONCURRENCY: '1' });
    while ((await committedTotal(admin, c.consumerGroup, c.redemptionTopic)) < total / 4) await sleep(20);
    first.child.kill('SIGKILL');
    const killedAt = performance.now();
    await first.exited;
    const second = start();
    const atKill = await committedTotal(admin, c.consumerGroup, c.redemptionTopic);
    let firstDecisionSeconds: number | null = null;
    for (;;) {
      const now = await committedTotal(admin, c.consumerGroup, c.redemptionTopic);
      if (firstDecisionSeconds === null && now > atKill) firstDecisionSeconds = round((performance.now() - killedAt) / 1000, 1);
      if (now >= total) break;
      await sleep(100);
    }
    const drainedSeconds = round((performance.now() - killedAt) / 1000, 1);
    await second.exited;
    return { killedAfterDecided: atKill, firstDecisionSeconds, drainedSeconds };
  } finally {
    await admin.disconnect();
  }
}

/** The benchmark's bare-client stages talk to one standalone Redis (its raw limit), never a cluster. */
function standalone(redis: RedisClient): Redis {
  if (isCluster(redis)) throw new Error('the benchmark runs against a standalone Redis: unset REDIS_CLUSTER_NODES');
  return redis;
}
