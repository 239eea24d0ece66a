/**
 * Raw limits of Kafka, Redis and MySQL with bare clients (none of the pipeline's code) on the requests
 * the drains read, and their combined ceiling 1/Σ(1/raw): every request passes through all three.
 */
import type { SourcedRequest } from '../../consumers/types.js';
import type { Config } from '../../lib/config.js';
import { createKnex } from '../../lib/mysql.js';
import type { RedemptionRequested } from '../../schemas/types.js';
import { combinedCeiling, rawKafka, rawMysql, rawRedis } from '../raw-stages.js';
import type { RawRun } from '../result.js';
import { type BenchContext, standalone } from './context.js';
import { requestsTopicData } from './data.js';

export async function rawStage(ctx: BenchContext): Promise<RawRun> {
  const { rt, base, o } = ctx;
  await requestsTopicData(ctx);
  ctx.print('raw limits: Kafka (bare consumer + decode), Redis (pipelined MGETs), MySQL (plain upserts, one connection)');
  const kafka = await rawKafka(
    rt.kafka(),
    ctx.ns('c1').redemptionTopic,
    base.topicPartitions,
    rt.registry().decoderFor<RedemptionRequested>('requested'),
    o.requests,
  );
  const redis = await rawRedis(standalone(await rt.connectedRedis()), `bench-${ctx.id}-raw`, kafka.requests, base.flushMaxMessages);
  const { mysqlUrl } = await rawDatabase(ctx);
  const mysql = await rawMysql(mysqlUrl, kafka.requests, base.flushMaxMessages);
  const rawRowsCorrect = await checkRawRows(mysqlUrl, kafka.requests);
  kafka.requests.length = 0;
  const raw = { kafka: kafka.rate, redis, mysql };
  const ceiling = combinedCeiling([kafka.rate.perSecond, redis.perSecond, mysql.perSecond]);
  ctx.print(
    `  kafka ${raw.kafka.perSecond}/s, redis ${raw.redis.perSecond}/s, mysql ${raw.mysql.perSecond}/s (rows checked: ${rawRowsCorrect}); combined ceiling ${ceiling}/s`,
  );
  return { raw, rawRowsCorrect, combinedCeiling: ceiling };
}

/** The migrated database the raw MySQL stage writes to (and the flush cycle after it), made once per run. */
export function rawDatabase(ctx: BenchContext): Promise<Config> {
  return ctx.once('raw-database', async () => {
    const c = ctx.ns('raw');
    await ctx.prepare(c);
    return c;
  });
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
