/**
 * What every stage of the benchmark shares: the run's id and its namespaces, the options, the runtime,
 * the coupons and the checkout simulation, and the steps a stage takes around its own work (prepare a
 * namespace, verify its MySQL state). A result several stages need (the data on the requests topic, the
 * 1-process drain rate, the minimal flush cycle) is made once, by whichever stage asks first (`once`), so
 * that any stage can also run alone.
 */
import { randomBytes } from 'node:crypto';

import type { Redis } from 'ioredis';

import { type Config, loadConfig } from '../../lib/config.js';
import { generateCoupons, upsertCoupons } from '../../lib/coupon-catalog.js';
import { migrateToLatest, withDatabase } from '../../lib/mysql.js';
import { removeNamespace } from '../../lib/namespace.js';
import { isCluster, type RedisClient } from '../../lib/redis.js';
import { Runtime } from '../../lib/runtime.js';
import { ensurePipelineTopics } from '../../lib/topics.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import type { RedemptionRequested } from '../../schemas/types.js';
import { verify } from '../../verify/verify.js';
import type { BenchOptions } from '../result.js';

export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

export class BenchContext {
  readonly id = randomBytes(3).toString('hex');
  readonly base: Config;
  /** the setup namespace's services, used by stages for what is not the pipeline under test */
  readonly rt: Runtime;
  /** databases made by this run, removed at the end */
  readonly databases: string[] = [];
  private readonly coupons: ReturnType<typeof generateCoupons>;
  private readonly memo = new Map<string, Promise<unknown>>();

  constructor(readonly o: BenchOptions) {
    this.base = loadConfig(process.env);
    this.rt = new Runtime(this.ns('setup'));
    this.coupons = generateCoupons({
      count: o.coupons,
      prefix: 'BENCH',
      campaigns: 10,
      quota: Math.max(10, Math.round((o.requests / o.coupons) * 3)),
      perUserLimit: 3,
      validFrom: new Date('2026-01-01T00:00:00Z'),
      validUntil: new Date('2027-01-01T00:00:00Z'),
    });
  }

  print(line: string): void {
    this.o.print(line);
  }

  /** The configuration of one run: the shared requests topic, and its own audit topic, group, prefix and database. */
  ns(run: string): Config {
    return {
      ...this.base,
      redemptionTopic: `bench-${this.id}.requested`,
      auditTopic: `bench-${this.id}-${run}.decided`,
      consumerGroup: `bench-${this.id}-${run}`,
      redisKeyPrefix: `bench-${this.id}-${run}`,
      mysqlUrl: withDatabase(this.base.mysqlUrl, `bench_${this.id}_${run}`),
      metricsPort: 0,
      logLevel: 'warn',
    };
  }

  /** The environment that makes a consumer process use `c`. */
  envOf(c: Config): Record<string, string> {
    return {
      REDEMPTION_TOPIC: c.redemptionTopic,
      AUDIT_TOPIC: c.auditTopic,
      CONSUMER_GROUP: c.consumerGroup,
      REDIS_KEY_PREFIX: c.redisKeyPrefix,
      MYSQL_URL: c.mysqlUrl,
      METRICS_PORT: '0',
      LOG_LEVEL: 'warn',
    };
  }

  /** Checkout requests over the run's coupons, repeatable for a seed. */
  simulation(count: number, seed: number): Generator<RedemptionRequested> {
    return simulateCheckout({
      ...DEFAULT_SIMULATION,
      count,
      couponCodes: this.coupons.map((c) => c.code),
      users: Math.max(1000, this.o.requests / 20),
      seed,
      retryShare: 0.03,
      refundShare: 0.02,
    });
  }

  /** A fresh database with the coupons, and the namespace's topics. */
  async prepare(c: Config): Promise<void> {
    this.databases.push(c.mysqlUrl);
    await migrateToLatest(c.mysqlUrl);
    const r = new Runtime(c);
    try {
      await upsertCoupons(r.knex(), this.coupons);
    } finally {
      await r.close();
    }
    const admin = this.rt.kafka().admin();
    await admin.connect();
    try {
      await ensurePipelineTopics(admin, c, this.rt.logger);
    } finally {
      await admin.disconnect();
    }
  }

  /** Verifies the namespace's MySQL state against the reference rules over its topic (up to `stops`). */
  async check(c: Config, stops?: Map<number, number>): Promise<boolean> {
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
      if (!report.equal) this.print(`  INCORRECT: ${report.differences.slice(0, 5).join('; ')}`);
      return report.equal;
    } finally {
      await r.close();
    }
  }

  /** `make()` once per run: later callers get the first call's result. */
  once<T>(key: string, make: () => Promise<T>): Promise<T> {
    if (!this.memo.has(key)) this.memo.set(key, make());
    return this.memo.get(key) as Promise<T>;
  }

  /** The result made under `key`, if some stage made it. */
  made<T>(key: string): Promise<T> | undefined {
    return this.memo.get(key) as Promise<T> | undefined;
  }

  async close(): Promise<void> {
    const prefix = `bench-${this.id}`;
    try {
      await removeNamespace({
        kafka: this.rt.kafka(),
        redis: this.rt.redis(),
        registry: this.rt.registry(),
        topicPrefix: prefix,
        redisPattern: `${prefix}*`,
        databases: this.databases,
      });
    } finally {
      await this.rt.close();
    }
  }
}

/** The benchmark's bare-client stages talk to one standalone Redis (its raw limit), never a cluster. */
export function standalone(redis: RedisClient): Redis {
  if (isCluster(redis)) throw new Error('the benchmark runs against a standalone Redis: unset REDIS_CLUSTER_NODES');
  return redis;
}
