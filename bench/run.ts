import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

import type { Admin } from 'kafkajs';

import { type Config, loadConfig } from '../lib/config.js';
import { generateCoupons, upsertCoupons } from '../lib/coupon-catalog.js';
import { groupProgress, readTopicFromStart } from '../lib/kafka.js';
import { migrateToLatest, withDatabase } from '../lib/mysql.js';
import { removeNamespace } from '../lib/namespace.js';
import { ProgressBar, RateLimiter } from '../lib/progress.js';
import { Runtime } from '../lib/runtime.js';
import { ensurePipelineTopics } from '../lib/topics.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../producers/checkout-simulator.js';
import { RedemptionProducer } from '../producers/redemption-producer.js';
import type { RedemptionDecided, RedemptionRequested } from '../schemas/types.js';
import { stackUp } from '../scripts/stack/stack.js';
import { verify } from '../verify/verify.js';
import { benchChart } from './chart.js';
import { endToEndLatency, type LatencySummary } from './latency.js';
import { runNaiveConsumer } from './naive-consumer.js';
import { rawKafka, rawMysql, rawRedis, type StageRate } from './raw-stages.js';

/**
 * The benchmark: drain throughput with 1 and 2 consumer processes, end-to-end latency at fixed offered
 * rates, the naive one-message-at-a-time baseline on the same data, the raw limits of each stage
 * measured in the same run, and the cost per 1,000 requests. Every run's MySQL state is checked against
 * the reference rules at the end; a fast wrong run is a failed run.
 */
export interface BenchOptions {
  requests: number;
  coupons: number;
  naiveRequests: number;
  rates: number[];
  latencySeconds: number;
  seed: number;
  outDir: string;
  print(line: string): void;
}

export const SMOKE: Partial<BenchOptions> = { requests: 4000, coupons: 200, naiveRequests: 500, rates: [500], latencySeconds: 4 };

interface ConsumerRun {
  processes: number;
  requests: number;
  perSecond: number;
  seconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  mysqlStatements: number;
  redisRoundTrips: number;
  correct: boolean;
}

const BIN = fileURLToPath(new URL('../bin/redeem.mjs', import.meta.url));

export async function runBench(o: BenchOptions): Promise<{ file: string; result: Record<string, unknown> }> {
  await stackUp(() => {});
  const id = randomBytes(3).toString('hex');
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
  const topics: string[] = [];
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
      topics.push(c.redemptionTopic, c.auditTopic, `${c.redemptionTopic}.dlq`);
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

    // 2. Drain throughput, 1 and 2 consumer processes.
    const drain: ConsumerRun[] = [];
    for (const processes of [1, 2]) {
      const c = ns(`c${processes}`);
      if (processes > 1) await prepare(c);
      o.print(`drain: ${processes} consumer process(es)`);
      drain.push(await drainRun(rt, c, envOf(c), processes, o.requests));
      drain[drain.length - 1]!.correct = await check(c);
      o.print(`  ${drain[drain.length - 1]!.perSecond} requests/s, correct: ${drain[drain.length - 1]!.correct}`);
    }

    // 3. The naive baseline, on the first requests of the same topic.
    const naiveConfig = ns('naive');
    await prepare(naiveConfig);
    const stops = await proportionalStops(rt, naiveConfig.redemptionTopic, o.naiveRequests);
    o.print(`naive baseline: ${[...stops.values()].reduce((a, b) => a + b, 0)} requests, one at a time`);
    const naiveRt = new Runtime(naiveConfig);
    const naive = await runNaiveConsumer({
      kafka: naiveRt.kafka(),
      knex: naiveRt.knex(),
      redis: await naiveRt.connectedRedis(),
      decoder: naiveRt.registry().decoderFor<RedemptionRequested>('requested'),
      auditCodec: await naiveRt.registry().codecFor<RedemptionDecided>('decided', naiveConfig.auditTopic),
      topic: naiveConfig.redemptionTopic,
      auditTopic: naiveConfig.auditTopic,
      groupId: naiveConfig.consumerGroup,
      prefix: naiveConfig.redisKeyPrefix,
      stops,
    });
    await naiveRt.close();
    const naivePerSecond = Math.round(naive.messages / naive.seconds);
    const naiveCorrect = await check(naiveConfig, stops);
    o.print(`  ${naivePerSecond} requests/s, correct: ${naiveCorrect}`);

    // 4. Raw limits of each stage, on the same data.
    o.print('raw stages: Kafka (decode only), Redis (the dedupe round trips), MySQL (the flush statements)');
    const raw = await rawKafka(rt.kafka(), ns('c1').redemptionTopic, rt.registry().decoderFor<RedemptionRequested>('requested'), o.requests);
    const rawRedisRate = await rawRedis(await rt.connectedRedis(), `bench-${id}-raw`, raw.requests, base.flushMaxMessages);
    const rawConfig = ns('raw');
    await prepare(rawConfig);
    const rawRt = new Runtime(rawConfig);
    const rawMysqlRate = await rawMysql(rawRt.knex(), raw.requests, base.flushMaxMessages, base.partitionsConsumedConcurrently);
    await rawRt.close();
    raw.requests.length = 0;
    const stages: Record<string, StageRate> = { kafka: raw.rate, redis: rawRedisRate, mysql: rawMysqlRate };
    const slowest = Object.entries(stages).sort((a, b) => a[1].perSecond - b[1].perSecond)[0]!;
    o.print(`  kafka ${raw.rate.perSecond}/s, redis ${rawRedisRate.perSecond}/s, mysql ${rawMysqlRate.perSecond}/s`);

    // 5. Latency at fixed offered rates.
    const latency: ({ offeredPerSecond: number; achievedPerSecond: number; keptUp: boolean; drainAfterSeconds: number; correct: boolean } & LatencySummary)[] =
      [];
    for (const offered of o.rates) {
      const c = { ...ns(`lat${offered}`), redemptionTopic: `bench-${id}-lat${offered}.requested` };
      await prepare(c);
      o.print(`latency at ${offered}/s offered for ${o.latencySeconds} s`);
      latency.push({
        offeredPerSecond: offered,
        ...(await latencyRun(rt, c, envOf(c), offered, o.latencySeconds, (count, seed) => simulation(count, seed), o.seed + offered)),
        correct: await check(c),
      });
      const l = latency[latency.length - 1]!;
      o.print(`  p50 ${l.p50} ms, p95 ${l.p95} ms, p99 ${l.p99} ms, max ${l.max} ms; kept up: ${l.keptUp}; correct: ${l.correct}`);
    }

    const one = drain[0]!;
    const per1000 = (x: number) => Math.round((x / one.requests) * 1000 * 100) / 100;
    const result = {
      id,
      at: new Date().toISOString(),
      machine: {
        hostname: hostname(),
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        platform: process.platform,
        services: 'Kafka 4.1.1 (KRaft, 1 node), Apicurio Registry 3.0.9, Redis, MariaDB: all on this host',
      },
      settings: {
        requests: o.requests,
        coupons: o.coupons,
        retryShare: 0.03,
        refundShare: 0.02,
        seed: o.seed,
        naiveRequests: naive.messages,
        rates: o.rates,
        latencySeconds: o.latencySeconds,
        partitions: base.topicPartitions,
        flushMaxMessages: base.flushMaxMessages,
        partitionsConsumedConcurrently: base.partitionsConsumedConcurrently,
        fetchMaxBytes: base.fetchMaxBytes,
        fetchMaxWaitMs: base.fetchMaxWaitMs,
      },
      drain,
      naive: { requests: naive.messages, seconds: naive.seconds, perSecond: naivePerSecond, correct: naiveCorrect },
      pipelineOverNaive: Math.round((one.perSecond / naivePerSecond) * 10) / 10,
      raw: stages,
      slowestRawStage: slowest[0],
      pipelineShareOfSlowestStage: Math.round((one.perSecond / slowest[1].perSecond) * 100) / 100,
      latency,
      cost: {
        peakRssMiB: one.peakRssMiB,
        cpuSecondsPer1000: per1000(one.cpuSeconds),
        mysqlStatementsPer1000: per1000(one.mysqlStatements),
        redisRoundTripsPer1000: per1000(one.redisRoundTrips),
      },
      correct: drain.every((d) => d.correct) && naiveCorrect && latency.every((l) => l.correct),
    };
    mkdirSync(o.outDir, { recursive: true });
    const stamp = result.at.replace(/[:.]/g, '-');
    const file = `${o.outDir}/bench-${stamp}.json`;
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(`${o.outDir}/bench-${stamp}.svg`, benchChart(result));
    return { file, result };
  } finally {
    await removeNamespace({ kafka: rt.kafka(), redis: rt.redis(), topicPrefix: `bench-${id}`, redisPattern: `bench-${id}*`, databases });
    await rt.close();
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
  const children = Array.from({ length: processes }, () => {
    const child = spawn(process.execPath, [BIN, 'consume', '--exit-when-idle', '3', '--max-wait', '900'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    return { exited: new Promise<string>((resolve) => child.on('close', () => resolve(stderr))) };
  });
  const summaries = await Promise.all(children.map((ch) => ch.exited));
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

/** One consumer running; requests produced at `offered`/s for `seconds`; latency from the two topics. */
async function latencyRun(
  rt: Runtime,
  c: Config,
  env: Record<string, string>,
  offered: number,
  seconds: number,
  simulation: (count: number, seed: number) => Generator<RedemptionRequested>,
  seed: number,
): Promise<{ achievedPerSecond: number; keptUp: boolean; drainAfterSeconds: number } & LatencySummary> {
  const child = spawn(process.execPath, [BIN, 'consume', '--exit-when-idle', '3', '--max-wait', '900'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const admin = rt.kafka().admin();
  await admin.connect();
  try {
    for (;;) {
      const { groups } = await admin.describeGroups([c.consumerGroup]);
      if (groups[0]!.state === 'Stable') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const producer = await RedemptionProducer.connect(
      rt.kafka(),
      await rt.registry().codecFor<RedemptionRequested>('requested', c.redemptionTopic),
      c.redemptionTopic,
    );
    const total = offered * seconds;
    const limiter = new RateLimiter(offered);
    const perSend = Math.max(1, Math.round(offered / 100));
    const started = Date.now();
    let sent = 0;
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
    const producedFor = (Date.now() - started) / 1000;
    await producer.disconnect();
    const endedAt = Date.now();
    while ((await committedTotal(admin, c.consumerGroup, c.redemptionTopic)) < total) await new Promise((resolve) => setTimeout(resolve, 50));
    const drainAfterSeconds = (Date.now() - endedAt) / 1000;
    await exited;
    const decoder = rt.registry().decoderFor<RedemptionDecided>('decided');
    const latency = await endToEndLatency(rt.kafka(), c.redemptionTopic, total, c.auditTopic, total, async (value) => {
      const r = await decoder.decode(value);
      return { partition: r.source_partition, offset: r.source_offset };
    });
    // Kept up: the backlog left when production stopped was worked off within a second.
    return { achievedPerSecond: Math.round(total / producedFor), keptUp: drainAfterSeconds <= 1, drainAfterSeconds, ...latency };
  } finally {
    await admin.disconnect();
    child.kill('SIGKILL');
  }
}
