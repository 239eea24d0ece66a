import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { type Config, deadLetterTopic, loadConfig } from '../lib/config.js';
import { generateCoupons, upsertCoupons } from '../lib/coupon-catalog.js';
import { RedemptionError } from '../lib/errors.js';
import { groupProgress, readTopicFromStart, topicOffsets } from '../lib/kafka.js';
import { localServerPid, migrateToLatest, withDatabase } from '../lib/mysql.js';
import { removeNamespace } from '../lib/namespace.js';
import { RateLimiter } from '../lib/progress.js';
import { timeToRecover } from '../lib/recovery.js';
import { Runtime } from '../lib/runtime.js';
import { ensurePipelineTopics } from '../lib/topics.js';
import { DEFAULT_SIMULATION, seededRandom, simulateCheckout } from '../producers/checkout-simulator.js';
import { RedemptionProducer } from '../producers/redemption-producer.js';
import type { RedemptionRequested } from '../schemas/types.js';
import { verify, type VerifyReport } from '../verify/verify.js';
import { type ClusterFaultKind, clusterFaultKinds, flushAllMasters, strikeClusterFault } from './chaos-cluster-faults.js';
import { ConsumerProcess, liveMembersRemoved } from './harness/consumer-process.js';
import { OwnMariadb, OwnRedis, pauseProcess } from './stack/own-servers.js';
import { bounceRedis, stackRestart } from './stack/stack.js';

/**
 * The chaos run: a paced checkout load through a few consumer processes while faults strike one after
 * another (kill -9 a consumer, add one, stop one, flush Redis, restart Redis, pause MySQL, restart the
 * broker); then it waits for the group to drain, runs `verify`, and prints what happened. It works in a
 * namespace of its own (topics, group, database, Redis prefix named chaos-<id>) on a Redis and a MariaDB
 * of its own (started from the machine's redis-server and mariadbd on free ports, removed at the end),
 * touches only processes it started, and stops by itself.
 *
 * A fault that strikes a service others may be using (the broker, the cluster profile's nodes, and Redis
 * or MySQL when the run uses the configured ones, `--no-own-servers`) is struck only when `faults`
 * names it.
 */
export const FAULT_KINDS = ['kill-9-consumer', 'add-consumer', 'stop-consumer', 'flush-redis', 'restart-redis', 'pause-mysql', 'restart-kafka'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
type AnyFaultKind = FaultKind | ClusterFaultKind;

/** The kinds a run strikes unless `faults` says otherwise: those that touch only what the run owns. */
export const OWN_FAULT_KINDS: readonly FaultKind[] = ['kill-9-consumer', 'add-consumer', 'stop-consumer', 'flush-redis', 'restart-redis', 'pause-mysql'];

/** The run's own Redis (none on Redis Cluster) and MariaDB; none with `--no-own-servers`. */
interface OwnServers {
  redis?: OwnRedis;
  mariadb?: OwnMariadb;
}

export interface ChaosOptions {
  durationMs: number;
  intervalMs: number;
  rate: number;
  consumers: number;
  seed: number;
  /** Remove the run's topics, database and Redis keys at the end (the tests do). */
  cleanup: boolean;
  print: (line: string) => void;
  /**
   * The kinds to strike: the only way to strike a service others may be using (restart-kafka, the
   * cluster profile's kinds, Redis and MySQL faults without own servers). @defaultValue OWN_FAULT_KINDS
   * (those the run's configuration allows)
   */
  faults?: readonly string[];
  /** Run on a Redis and a MariaDB of its own. @defaultValue true */
  ownServers?: boolean;
}

export interface ChaosSummary {
  namespace: string;
  /** Per kind struck in this run (the cluster kinds only when the run used the cluster profile). */
  faults: Partial<Record<FaultKind | ClusterFaultKind, number>>;
  skipped: string[];
  produced: number;
  decided: number;
  deadLettered: number;
  rebalances: number;
  /** Members removed from the group by a peer's dead-member sweep while their process was running. */
  liveMembersRemoved: number;
  verify: VerifyReport;
  /** Per fault struck: milliseconds until every partition with work was committing again (null: not within 2 min). */
  recoveries: { kind: FaultKind | ClusterFaultKind; ms: number | null }[];
}

export async function runChaos(o: ChaosOptions): Promise<ChaosSummary> {
  const base = loadConfig(process.env);
  // A wrong --faults list fails before anything starts.
  if (o.faults) chaosFaultKinds(base, {}, o.faults);
  const own: OwnServers = {};
  try {
    if (o.ownServers ?? true) {
      // On Redis Cluster the run's Redis is the cluster (its own fault is kill-9-redis-master).
      [own.redis, own.mariadb] = await Promise.all([base.redisClusterNodes.length > 0 ? undefined : OwnRedis.start(), OwnMariadb.start()]);
    }
    return await runChaosOn(o, own);
  } finally {
    await own.redis?.stop();
    await own.mariadb?.stop();
  }
}

/** The kinds a run on `config` with `own` strikes: `wanted` when given (each must be known there). */
export function chaosFaultKinds(config: Pick<Config, 'kafkaBrokers' | 'redisClusterNodes'>, own: OwnServers, wanted?: readonly string[]): AnyFaultKind[] {
  const known: AnyFaultKind[] = [...FAULT_KINDS, ...clusterFaultKinds(config)];
  if (wanted === undefined) {
    return OWN_FAULT_KINDS.filter((k) => (k === 'pause-mysql' ? own.mariadb : k === 'flush-redis' || k === 'restart-redis' ? own.redis : true));
  }
  const unknown = wanted.filter((k) => !known.includes(k as AnyFaultKind));
  if (unknown.length > 0 || wanted.length === 0) {
    throw new RedemptionError(
      'INPUT_INVALID',
      `--faults: ${unknown.length > 0 ? `unknown here: ${unknown.join(', ')}` : 'empty'}; this run knows ${known.join(', ')} (the cluster kinds only on the cluster profile)`,
    );
  }
  return [...new Set(wanted as AnyFaultKind[])];
}

async function runChaosOn(o: ChaosOptions, own: OwnServers): Promise<ChaosSummary> {
  const id = randomBytes(3).toString('hex');
  const base = loadConfig(process.env);
  const ownEnv: Record<string, string> = {
    ...(own.redis ? { REDIS_URL: own.redis.url, REDIS_CA_FILE: '' } : {}),
    ...(own.mariadb ? { MYSQL_URL: own.mariadb.url(`redeem_chaos_${id}`), MYSQL_SSL_CA_FILE: '', MYSQL_ADMIN_URL: '' } : {}),
  };
  const env: Record<string, string> = {
    REDEMPTION_TOPIC: `chaos-${id}.requested`,
    AUDIT_TOPIC: `chaos-${id}.decided`,
    CONSUMER_GROUP: `chaos-${id}`,
    REDIS_KEY_PREFIX: `chaos-${id}`,
    MYSQL_URL: withDatabase(base.mysqlUrl, `redeem_chaos_${id}`),
    // Short sessions, so a killed member is noticed in seconds (the production defaults are 10 s / 1 s /
    // 20 s now as well; a shorter rebalance timeout keeps the short run moving).
    SESSION_TIMEOUT_MS: '10000',
    HEARTBEAT_INTERVAL_MS: '1000',
    REBALANCE_TIMEOUT_MS: '15000',
    LOG_LEVEL: 'info',
    METRICS_PORT: '0',
    ...ownEnv,
  };
  const config = loadConfig({ ...process.env, ...env });
  const rt = new Runtime({ ...config, logLevel: 'warn' });
  const childEnv = { ...process.env, ...env };
  const kinds = chaosFaultKinds(config, own, o.faults);
  o.print(`chaos ${id}: topics chaos-${id}.*, database redeem_chaos_${id}, ${o.rate}/s for ${o.durationMs / 1000} s, faults every ${o.intervalMs / 1000} s`);
  o.print(
    `  redis: ${own.redis ? `its own redis-server on port ${own.redis.port}` : 'the configured one'}; mysql: ${own.mariadb ? `its own mariadbd on port ${own.mariadb.port}` : 'the configured one'}`,
  );
  o.print(`  faults: ${kinds.join(', ')}`);

  await migrateToLatest(config.mysqlUrl);
  const admin = rt.kafka().admin();
  await admin.connect();
  await ensurePipelineTopics(admin, config, rt.logger);
  await admin.disconnect();
  const coupons = generateCoupons({
    count: 300,
    prefix: 'CHAOS',
    campaigns: 3,
    quota: Math.max(20, Math.round((o.rate * o.durationMs) / 1000 / 300)),
    perUserLimit: 3,
    validFrom: new Date('2026-01-01T00:00:00Z'),
    validUntil: new Date('2027-01-01T00:00:00Z'),
  });
  await upsertCoupons(rt.knex(), coupons);

  const logDir = join(tmpdir(), `redeem-chaos-${id}`);
  mkdirSync(logDir, { recursive: true });
  let started = 0;
  const startConsumer = () => new ConsumerProcess(childEnv, { logFile: join(logDir, `consumer-${++started}.log`) });
  o.print(`consumer logs in ${logDir}`);
  const consumers: ConsumerProcess[] = [];
  const retired: ConsumerProcess[] = [];
  /** The kill -9 victims: pid → when. */
  const killedAt = new Map<number, number>();
  for (let i = 0; i < o.consumers; i++) consumers.push(startConsumer());

  // The load: in this process, so that it rides out broker restarts with the producer's own retries.
  const codec = await rt.registry().codecFor<RedemptionRequested>('requested', config.redemptionTopic);
  const producer = await RedemptionProducer.connect(rt.kafka(), codec, config.redemptionTopic);
  const endAt = Date.now() + o.durationMs;
  let produced = 0;
  const load = (async () => {
    const limiter = new RateLimiter(o.rate);
    const batch = Math.max(1, Math.round(o.rate / 20));
    const requests = simulateCheckout({
      ...DEFAULT_SIMULATION,
      count: Number.MAX_SAFE_INTEGER,
      couponCodes: coupons.map((c) => c.code),
      users: 3000,
      seed: o.seed,
    });
    while (Date.now() < endAt) {
      const chunk: RedemptionRequested[] = [];
      for (let i = 0; i < batch; i++) chunk.push(requests.next().value as RedemptionRequested);
      await producer.sendAll(chunk);
      produced += chunk.length;
      await limiter.wait(produced);
    }
  })();

  const faults = Object.fromEntries(kinds.map((k) => [k, 0])) as Record<FaultKind | ClusterFaultKind, number>;
  const skipped: string[] = [];
  const random = seededRandom(o.seed);
  const strike = async (kind: FaultKind | ClusterFaultKind): Promise<boolean> => {
    switch (kind) {
      case 'kill-9-consumer': {
        const victim = consumers.splice(Math.floor(random() * consumers.length), 1)[0]!;
        victim.child.kill('SIGKILL');
        killedAt.set(victim.child.pid!, Date.now());
        retired.push(victim);
        consumers.push(startConsumer());
        return true;
      }
      case 'add-consumer':
        consumers.push(startConsumer());
        return true;
      case 'stop-consumer': {
        if (consumers.length <= 1) return false;
        const leaving = consumers.pop()!;
        leaving.child.kill('SIGTERM');
        retired.push(leaving);
        return true;
      }
      case 'flush-redis': {
        if (own.redis) await own.redis.flushAll();
        else await flushAllMasters(await rt.connectedRedis());
        return true;
      }
      case 'restart-redis':
        if (own.redis) await own.redis.bounce(1000);
        // On Redis Cluster the machine's Redis is not the run's: kill-9-redis-master is the fault there.
        else if (config.redisClusterNodes.length > 0) return false;
        else await bounceRedis(1000);
        return true;
      case 'pause-mysql': {
        if (own.mariadb) {
          await own.mariadb.pause(5000);
          return true;
        }
        await pauseProcess(await localServerPid(config.mysqlUrl), 5000);
        return true;
      }
      case 'restart-kafka':
        return stackRestart('kafka', () => {});
      default:
        return strikeClusterFault(kind, { kafka: rt.kafka(), topic: config.redemptionTopic, hotKey: coupons[0]!.code, progress: o.print });
    }
  };

  // Recovery is measured in the background, so that the next fault strikes on time.
  const probe = rt.kafka().admin();
  await probe.connect();
  const measuring: Promise<{ kind: FaultKind | ClusterFaultKind; ms: number | null }>[] = [];
  const measure = (kind: FaultKind | ClusterFaultKind, struckAt: number) =>
    measuring.push(
      timeToRecover(probe, config.consumerGroup, config.redemptionTopic, struckAt, 120_000).then(
        (ms) => {
          o.print(`  recovered from ${kind} in ${ms === null ? 'MORE THAN 120 s' : `${(ms / 1000).toFixed(1)} s`}`);
          return { kind, ms };
        },
        () => ({ kind, ms: null }),
      ),
    );

  let order: (FaultKind | ClusterFaultKind)[] = [];
  while (Date.now() + o.intervalMs < endAt) {
    await sleep(o.intervalMs);
    if (order.length === 0) order = [...kinds].sort(() => random() - 0.5);
    const kind = order.shift()!;
    const started = Date.now();
    if (await strike(kind)) {
      faults[kind] = (faults[kind] ?? 0) + 1;
      measure(kind, started);
      o.print(`  ${new Date().toISOString()} ${kind} (${Date.now() - started} ms; ${consumers.length} consumers)`);
    } else {
      skipped.push(kind);
      o.print(`  ${new Date().toISOString()} ${kind} skipped`);
    }
  }
  await load;
  await producer.disconnect();
  o.print(`load done: ${produced} produced; waiting for the group to drain`);

  await waitForDrain(rt, config.redemptionTopic, config.consumerGroup, 300_000);
  const recoveries = await Promise.all(measuring);
  await probe.disconnect();
  for (const c of consumers) c.child.kill('SIGTERM');
  await Promise.all([...consumers, ...retired].map((c) => c.exited));

  const decided = await distinctAuditSources(rt, config.auditTopic);
  const deadLettered = await topicSize(rt, deadLetterTopic(config.redemptionTopic));
  const report = await verify({
    kafka: rt.kafka(),
    knex: rt.knex(),
    decoder: rt.registry().decoderFor<RedemptionRequested>('requested'),
    topic: config.redemptionTopic,
    maxMessageBytes: config.maxMessageBytes,
  });
  const rebalances = [...consumers, ...retired].reduce((sum, c) => sum + c.rebalances(), 0);
  const liveRemoved = liveMembersRemoved([...consumers, ...retired], killedAt);
  if (o.cleanup)
    await removeNamespace({
      kafka: rt.kafka(),
      redis: rt.redis(),
      registry: rt.registry(),
      topicPrefix: `chaos-${id}.`,
      redisPattern: `chaos-${id}:*`,
      databases: [config.mysqlUrl],
    });
  await rt.close();
  return {
    namespace: `chaos-${id}`,
    faults,
    skipped,
    produced,
    decided,
    deadLettered,
    rebalances,
    liveMembersRemoved: liveRemoved,
    verify: report,
    recoveries,
  };
}

async function waitForDrain(rt: Runtime, topic: string, groupId: string, timeoutMs: number): Promise<void> {
  const admin = rt.kafka().admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((await groupProgress(admin, groupId, topic)).lag === 0) return;
      await sleep(500);
    }
    throw new Error(`the group did not drain ${topic} within ${timeoutMs / 1000} s`);
  } finally {
    await admin.disconnect();
  }
}

async function topicSize(rt: Runtime, topic: string): Promise<number> {
  const admin = rt.kafka().admin();
  await admin.connect();
  try {
    return (await topicOffsets(admin, topic)).reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Messages of the requests topic with at least one audit record: the decided count. */
async function distinctAuditSources(rt: Runtime, auditTopic: string): Promise<number> {
  const decoder = rt.registry().decoderFor<{ source_partition: number; source_offset: number }>('decided');
  const sources = new Set<string>();
  await readTopicFromStart(rt.kafka(), auditTopic, await topicSize(rt, auditTopic), async (batch) => {
    for (const m of batch.messages) {
      const r = await decoder.decode(m.value!);
      sources.add(`${r.source_partition}/${r.source_offset}`);
    }
  });
  return sources.size;
}

/** "3.2 s" or "max 12.0 s, median 3.1 s (4)"; a fault not recovered from within the probe's limit shows as such. */
function formatRecoveries(list: readonly { ms: number | null }[]): string {
  if (list.some((r) => r.ms === null)) return `NOT RECOVERED within 120 s (${list.filter((r) => r.ms === null).length} of ${list.length})`;
  const ms = list.map((r) => r.ms!).sort((a, b) => a - b);
  const s = (x: number) => `${(x / 1000).toFixed(1)} s`;
  return ms.length === 1 ? s(ms[0]!) : `max ${s(ms[ms.length - 1]!)}, median ${s(ms[Math.floor(ms.length / 2)]!)} (${ms.length})`;
}

export function formatChaosSummary(s: ChaosSummary): string {
  const rows: [string, string][] = [
    ...(Object.keys(s.faults) as (FaultKind | ClusterFaultKind)[]).map((k): [string, string] => [`faults: ${k}`, String(s.faults[k] ?? 0)]),
    ...(Object.keys(s.faults) as (FaultKind | ClusterFaultKind)[])
      .filter((k) => (s.faults[k] ?? 0) > 0)
      .map((k): [string, string] => [`recovery: ${k}`, formatRecoveries(s.recoveries.filter((r) => r.kind === k))]),
    ['requests produced', String(s.produced)],
    ['decided', String(s.decided)],
    ['dead-lettered', String(s.deadLettered)],
    ['produced = decided + dead-lettered', s.produced === s.decided + s.deadLettered ? 'yes' : 'NO'],
    ['rebalances', String(s.rebalances)],
    ['live members removed', String(s.liveMembersRemoved)],
    ['verify', s.verify.equal ? 'EQUAL' : `DIFFERENT (${s.verify.differences.length})`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
  if (s.skipped.length > 0) lines.push(`skipped: ${s.skipped.join(', ')}`);
  if (!s.verify.equal) lines.push(...s.verify.differences.slice(0, 20));
  return [`chaos summary (${s.namespace})`, ...lines].join('\n');
}
