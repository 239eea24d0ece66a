/**
 * `redeem replay` and `redeem rebuild`: a range of the requests topic, or all of it, run through the
 * pipeline under a group of its own, into the live database or a fresh one.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import type { Admin } from 'kafkajs';

import type { ConsumerStats } from '../../consumers/consumer-stats.js';
import { DrainIncompleteError, waitForDrain } from '../../consumers/drain.js';
import { RedemptionConsumer } from '../../consumers/redemption-consumer.js';
import { upsertCoupons } from '../../lib/coupon-catalog.js';
import type { CouponTermsRow } from '../../lib/coupon-csv.js';
import { cachePrefix } from '../../lib/database-identity.js';
import { InputError, RedemptionError } from '../../lib/errors.js';
import { topicOffsets } from '../../lib/kafka.js';
import { createDatabaseIfMissing, migrateToLatest, withDatabase } from '../../lib/mysql.js';
import { removeRedisKeys } from '../../lib/namespace.js';
import { ProgressBar } from '../../lib/progress.js';
import { Runtime } from '../../lib/runtime.js';
import { Interrupted } from '../failures.js';
import { StopRequest } from '../stop-request.js';
import { removeThrowawayGroup } from '../throwaway-group.js';

export interface ReplayOptions {
  fromTimestamp?: Date;
  toTimestamp?: Date;
  /** partition → first offset to read */
  fromOffsets?: Map<number, number>;
  rate: number | null;
  dryRun: boolean;
  group?: string;
  progress: boolean;
  /** Give up after this many seconds (the replay's drain, and the wait for the live group). */
  maxWait?: number;
  /** Delete the group when done (default: when the replay named it itself, i.e. without `group`). */
  throwawayGroup?: boolean;
}

async function offsetsAt(admin: Admin, topic: string, at: Date, ends: Map<number, number>): Promise<Map<number, number>> {
  const found = await admin.fetchTopicOffsetsByTimestamp(topic, at.getTime());
  // -1: no message at or after that time, i.e. the partition's end.
  return new Map(found.map((o) => [o.partition, Number(o.offset) < 0 ? ends.get(o.partition)! : Number(o.offset)]));
}

/** The offsets a replay reads, per partition: [start, stop). */
export async function replayRange(
  rt: Runtime,
  o: Pick<ReplayOptions, 'fromTimestamp' | 'toTimestamp' | 'fromOffsets'>,
): Promise<Map<number, { start: number; stop: number }>> {
  const topic = rt.config.redemptionTopic;
  const admin = rt.kafka().admin();
  await admin.connect();
  try {
    const offsets = await topicOffsets(admin, topic);
    const lows = new Map(offsets.map((x) => [x.partition, Number(x.low)]));
    const ends = new Map(offsets.map((x) => [x.partition, Number(x.high)]));
    for (const partition of o.fromOffsets?.keys() ?? []) {
      if (!ends.has(partition)) throw new InputError('INPUT_INVALID', `--from-offsets: ${topic} has no partition ${partition} (it has ${ends.size})`);
    }
    const starts = o.fromTimestamp ? await offsetsAt(admin, topic, o.fromTimestamp, ends) : lows;
    const stops = o.toTimestamp ? await offsetsAt(admin, topic, o.toTimestamp, ends) : ends;
    return new Map(
      [...ends.keys()]
        .sort((a, b) => a - b)
        .map((p) => {
          const start = Math.max(o.fromOffsets?.get(p) ?? starts.get(p)!, lows.get(p)!);
          return [p, { start, stop: Math.max(start, stops.get(p)!) }];
        }),
    );
  } finally {
    await admin.disconnect();
  }
}

/**
 * A real replay into the live database must not run ahead of the live group: deciding a request before
 * the live group has decided the ones before it in its partition would decide them out of order (a
 * coupon's quota taken by a later request). So it waits (up to `maxWaitSeconds`, default not at all)
 * until the live group has committed past the end of the replay's range in every partition, or
 * refuses, naming the partitions.
 */
async function waitForLiveGroup(rt: Runtime, range: Map<number, { start: number; stop: number }>, maxWaitSeconds: number): Promise<void> {
  const targets = new Map([...range].filter(([, r]) => r.start < r.stop).map(([partition, r]) => [partition, r.stop]));
  if (targets.size === 0) return;
  const admin = rt.kafka().admin();
  await admin.connect();
  try {
    await waitForDrain({
      admin,
      groupId: rt.config.consumerGroup,
      topic: rt.config.redemptionTopic,
      idleSeconds: 0,
      idleMs: () => 0,
      targets,
      maxWaitSeconds,
      pollMs: 1000,
    });
  } catch (error) {
    if (!(error instanceof DrainIncompleteError)) throw error;
    const behind = error.remaining.map((r) => `partition ${r.partition}: live group committed ${r.committed}, replay reads up to ${r.target}`).join('; ');
    throw new RedemptionError(
      'REPLAY_AHEAD_OF_LIVE',
      `the live group ${rt.config.consumerGroup} has not yet decided the whole range (${behind}); a replay must not decide requests before it. Let the live group catch up (or pass --max-wait SECONDS to wait for it), or end the range where it is (--to-timestamp)`,
    );
  } finally {
    await admin.disconnect();
  }
}

/**
 * Runs a range of the requests topic through the pipeline under a group of its own. Next to the live
 * group it is safe: what was already decided is re-emitted unchanged, so it only applies what is new,
 * and a real run waits for (or refuses to run ahead of) the live group. It returns once the replay's
 * group has committed the whole range (a dry run commits nothing: once it has read it).
 */
export async function replay(rt: Runtime, o: ReplayOptions, publish = true, guardLive = true): Promise<ConsumerStats> {
  const range = await replayRange(rt, o);
  if (!o.dryRun && guardLive) await waitForLiveGroup(rt, range, o.maxWait ?? 0);
  const total = [...range.values()].reduce((sum, r) => sum + r.stop - r.start, 0);
  const bar = new ProgressBar(o.dryRun ? 'replay (dry run)' : 'replay', total, o.progress);
  const config = { ...rt.config, consumerGroup: o.group ?? `${rt.config.consumerGroup}-replay-${Date.now()}`, metricsPort: 0 };
  const consumer = new RedemptionConsumer(
    config,
    { kafka: rt.kafka(), registry: rt.registry(), redis: rt.redis(), knex: rt.knex(), logger: rt.logger },
    undefined,
    {
      range,
      ratePerSecond: o.rate,
      dryRun: o.dryRun,
      publish,
      onProgress: (n) => bar.update(n),
    },
  );
  // Ctrl-C: the flush in hand is finished and committed, the group deleted, and the message says how far
  // it got; a second Ctrl-C ends the process at once (MySQL rolls back a flush cut short).
  const stop = new StopRequest('a flush cut short is rolled back; run it again');
  const stopped = stop.stopped.then(() => 'stopped' as const);
  await consumer.start();
  const admin = rt.kafka().admin();
  await admin.connect();
  try {
    if (o.dryRun) {
      const timeout = o.maxWait === undefined ? null : sleep(o.maxWait * 1000, 'timeout' as const);
      if ((await Promise.race([consumer.rangeDone().then(() => 'done' as const), stopped, ...(timeout ? [timeout] : [])])) === 'timeout') {
        throw new RedemptionError('DRAIN_INCOMPLETE', `gave up after ${o.maxWait} s: the dry run read ${consumer.stats.messages} of ${total} messages`);
      }
    } else {
      // Done means committed: the replay's group has committed every partition to the end of the range.
      const targets = new Map([...range].map(([partition, r]) => [partition, r.stop]));
      await waitForDrain({
        admin,
        groupId: config.consumerGroup,
        topic: config.redemptionTopic,
        idleSeconds: 0,
        idleMs: () => 0,
        targets,
        maxWaitSeconds: o.maxWait,
        abandon: stop.stopped,
      });
    }
  } finally {
    stop.dispose();
    await admin.disconnect();
    await consumer.stop();
    if (o.throwawayGroup ?? o.group === undefined) await removeThrowawayGroup(rt, config.consumerGroup);
  }
  bar.finish(consumer.stats.messages);
  if (stop.requested && consumer.stats.messages < total) throw new ReplayInterrupted(consumer.stats.messages, total, o.dryRun);
  return consumer.stats;
}

/** A replay stopped by Ctrl-C: how far it got. Running it again is safe (what is decided stays). */
export class ReplayInterrupted extends Interrupted {
  constructor(
    readonly read: number,
    readonly total: number,
    dryRun: boolean,
  ) {
    super(
      dryRun
        ? `interrupted: the dry run read ${read} of ${total} messages, so its report would be partial; run it again`
        : `interrupted: the replay decided ${read} of ${total} messages, committed; run it again to finish (what is decided already stays unchanged)`,
    );
  }
}

/** A rebuild stopped by Ctrl-C leaves a partial database, which a rebuild refuses: it says so. */
async function rebuildInto(database: string, work: () => Promise<ConsumerStats>): Promise<ConsumerStats> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof ReplayInterrupted)) throw error;
    throw new Interrupted(
      `interrupted: the rebuild decided ${error.read} of ${error.total} messages into ${database}, which is therefore partial; drop it (DROP DATABASE ${database}) and run the rebuild again`,
    );
  }
}

/**
 * Rebuilds the MySQL state from the whole requests topic into a fresh database: the coupons' terms are
 * copied from the live database (with nothing redeemed), then every request is replayed into it under
 * its own group and Redis prefix, publishing no audit records.
 */
export async function rebuild(rt: Runtime, database: string, o: { rate: number | null; progress: boolean; maxWait?: number }): Promise<ConsumerStats> {
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
    // A fresh database: the live group's progress does not matter to it.
    return await rebuildInto(database, () =>
      replay(
        into,
        {
          rate: o.rate,
          dryRun: false,
          progress: o.progress,
          maxWait: o.maxWait,
          group: `${rt.config.consumerGroup}-rebuild-${database}-${Date.now()}`,
          throwawayGroup: true,
        },
        false,
        false,
      ),
    );
  } finally {
    // The rebuild's cache (named by the fresh database's identity, so never shared) is of no use after.
    await removeRedisKeys(await into.connectedRedis(), `${await cachePrefix(into.knex(), into.config.redisKeyPrefix)}:*`).catch((error: unknown) =>
      rt.logger.warn({ err: error }, "could not remove the rebuild's Redis keys"),
    );
    await into.close();
  }
}
