/**
 * The naive baseline: one message at a time per partition, all partitions at once, the same dedupe and
 * rules, on a partition-proportional cut of the requests topic (`--naive-requests`); verified.
 */
import { topicOffsets } from '../../lib/kafka.js';
import { createKnex } from '../../lib/mysql.js';
import { Runtime } from '../../lib/runtime.js';
import type { RedemptionDecided, RedemptionRequested } from '../../schemas/types.js';
import { runNaiveConsumer } from '../naive-consumer.js';
import type { NaiveRun } from '../result.js';
import { type BenchContext, standalone } from './context.js';
import { requestsTopicData } from './data.js';

export async function naiveStage(ctx: BenchContext): Promise<NaiveRun> {
  await requestsTopicData(ctx);
  const c = ctx.ns('naive');
  await ctx.prepare(c);
  const stops = await proportionalStops(ctx.rt, c.redemptionTopic, ctx.o.naiveRequests);
  ctx.print(`naive baseline: ${[...stops.values()].reduce((a, b) => a + b, 0)} requests, one at a time per partition, ${stops.size} partitions at once`);
  const rt = new Runtime(c);
  // A connection per partition: the naive consumer holds one through each message's transaction.
  const knex = createKnex(c.mysqlUrl, { min: 0, max: stops.size + 1 }, c.mysqlLockWaitTimeoutSeconds);
  const naive = await runNaiveConsumer({
    kafka: rt.kafka(),
    knex,
    redis: standalone(await rt.connectedRedis()),
    decoder: rt.registry().decoderFor<RedemptionRequested>('requested'),
    auditCodec: await rt.registry().codecFor<RedemptionDecided>('decided', c.auditTopic),
    topic: c.redemptionTopic,
    auditTopic: c.auditTopic,
    groupId: c.consumerGroup,
    prefix: c.redisKeyPrefix,
    stops,
  });
  await knex.destroy();
  await rt.close();
  const perSecond = Math.round(naive.messages / naive.seconds);
  const correct = await ctx.check(c, stops);
  ctx.print(`  ${perSecond} requests/s, correct: ${correct}`);
  return { requests: naive.messages, seconds: naive.seconds, perSecond, partitionsConcurrently: stops.size, correct };
}

/** A partition-proportional cut of the topic holding about `wanted` messages: the naive run's range. */
async function proportionalStops(rt: Runtime, topic: string, wanted: number): Promise<Map<number, number>> {
  const admin = rt.kafka().admin();
  await admin.connect();
  try {
    const offsets = await topicOffsets(admin, topic);
    const total = offsets.reduce((s, x) => s + Number(x.high), 0);
    return new Map(offsets.map((x) => [x.partition, Math.min(Number(x.high), Math.round((Number(x.high) * Math.min(wanted, total)) / total))]));
  } finally {
    await admin.disconnect();
  }
}
