import type { Admin } from 'kafkajs';
import { RedemptionConsumer } from '../../consumers/redemption-consumer.js';
import type { ConsumerStats } from '../../consumers/consumer-stats.js';
import type { CouponTermsRow } from '../../lib/coupon-csv.js';
import { upsertCoupons } from '../../lib/coupon-catalog.js';
import { InputError } from '../../lib/errors.js';
import { createDatabaseIfMissing, migrateToLatest, withDatabase } from '../../lib/mysql.js';
import { ProgressBar } from '../../lib/progress.js';
import { Runtime } from '../../lib/runtime.js';

export interface ReplayOptions {
  fromTimestamp?: Date;
  toTimestamp?: Date;
  /** partition → first offset to read */
  fromOffsets?: Map<number, number>;
  rate: number | null;
  dryRun: boolean;
  group?: string;
  progress: boolean;
}

async function offsetsAt(admin: Admin, topic: string, at: Date, ends: Map<number, number>): Promise<Map<number, number>> {
  const found = await admin.fetchTopicOffsetsByTimestamp(topic, at.getTime());
  // -1: no message at or after that time, i.e. the partition's end.
  return new Map(found.map((o) => [o.partition, Number(o.offset) < 0 ? ends.get(o.partition)! : Number(o.offset)]));
}

/** The offsets a replay reads, per partition: [start, stop). */
export async function replayRange(rt: Runtime, o: Pick<ReplayOptions, 'fromTimestamp' | 'toTimestamp' | 'fromOffsets'>): Promise<Map<number, { start: number; stop: number }>> {
  const topic = rt.config.redemptionTopic;
  const admin = rt.kafka().admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    const lows = new Map(offsets.map((x) => [x.partition, Number(x.low)]));
    const ends = new Map(offsets.map((x) => [x.partition, Number(x.high)]));
    for (const partition of o.fromOffsets?.keys() ?? []) {
      if (!ends.has(partition)) throw new InputError('INPUT_INVALID', `--from-offsets: ${topic} has no partition ${partition} (it has ${ends.size})`);
    }
    const starts = o.fromTimestamp ? await offsetsAt(admin, topic, o.fromTimestamp, ends) : lows;
    const stops = o.toTimestamp ? await offsetsAt(admin, topic, o.toTimestamp, ends) : ends;
    return new Map(
      [...ends.keys()].sort((a, b) => a - b).map((p) => {
        const start = Math.max(o.fromOffsets?.get(p) ?? starts.get(p)!, lows.get(p)!);
        return [p, { start, stop: Math.max(start, stops.get(p)!) }];
      }),
    );
  } finally {
    await admin.disconnect();
  }
}

/**
 * Runs a range of the requests topic through the pipeline under a group of its own. Next to the live
 * group it is safe: what was already decided is re-emitted unchanged, so it only applies what is new.
 */
export async function replay(rt: Runtime, o: ReplayOptions, publish = true): Promise<ConsumerStats> {
  const range = await replayRange(rt, o);
  const total = [...range.values()].reduce((sum, r) => sum + r.stop - r.start, 0);
  const bar = new ProgressBar(o.dryRun ? 'replay (dry run)' : 'replay', total, o.progress);
  const config = { ...rt.config, consumerGroup: o.group ?? `${rt.config.consumerGroup}-replay-${Date.now()}`, metricsPort: 0 };
  const consumer = new RedemptionConsumer(config, { kafka: rt.kafka(), registry: rt.registry(), redis: rt.redis(), knex: rt.knex(), logger: rt.logger }, undefined, {
    range,
    ratePerSecond: o.rate,
    dryRun: o.dryRun,
    publish,
    onProgress: (n) => bar.update(n),
  });
  await consumer.start();
  try {
    await consumer.rangeDone();
  } finally {
    await consumer.stop();
  }
  bar.finish(consumer.stats.messages);
  return consumer.stats;
}

/**
 * Rebuilds the MySQL state from the whole requests topic into a fresh database: the coupons' terms are
 * copied from the live database (with nothing redeemed), then every request is replayed into it under
 * its own group and Redis prefix, publishing no audit records.
 */
export async function rebuild(rt: Runtime, database: string, o: { rate: number | null; progress: boolean }): Promise<ConsumerStats> {
  const target = withDatabase(rt.config.mysqlUrl, database);
  if (target === rt.config.mysqlUrl) throw new InputError('INPUT_INVALID', `--into ${database} is the live database; rebuild into a fresh one`);
  await createDatabaseIfMissing(target);
  await migrateToLatest(target);
  const into = new Runtime({ ...rt.config, mysqlUrl: target, redisKeyPrefix: `${rt.config.redisKeyPrefix}-rebuild-${database}`, logLevel: rt.config.logLevel });
  try {
    const [{ n }] = (await into.knex()('decisions').count({ n: '*' })) as [{ n: number | string }];
    if (Number(n) > 0) throw new InputError('INPUT_INVALID', `database ${database} already holds ${n} decisions; rebuild into a fresh database`);
    const coupons = (await rt.knex()('coupons').select('code', 'campaign_id', 'quota', 'per_user_limit', 'valid_from', 'valid_until')) as CouponTermsRow[];
    await upsertCoupons(into.knex(), coupons);
    return await replay(into, { rate: o.rate, dryRun: false, progress: o.progress, group: `${rt.config.consumerGroup}-rebuild-${database}-${Date.now()}` }, false);
  } finally {
    await into.close();
  }
}
