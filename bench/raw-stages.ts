import type { Kafka } from 'kafkajs';
import type { Knex } from 'knex';
import pino from 'pino';

import { DecisionCache } from '../consumers/decision-cache.js';
import { RedemptionStore } from '../consumers/redemption-store.js';
import type { SourcedRequest } from '../consumers/types.js';
import { readTopicFromStart } from '../lib/kafka.js';
import type { RedisClient } from '../lib/redis.js';
import type { Decoder } from '../schemas/registry.js';
import type { RedemptionRequested } from '../schemas/types.js';

export interface StageRate {
  requests: number;
  seconds: number;
  perSecond: number;
}

const rate = (requests: number, seconds: number): StageRate => ({ requests, seconds, perSecond: Math.round(requests / Math.max(seconds, 1e-6)) });

/** Raw Kafka: the topic read and decoded under a throwaway group, nothing else. Keeps what it decoded. */
export async function rawKafka(
  kafka: Kafka,
  topic: string,
  decoder: Decoder<RedemptionRequested>,
  total: number,
): Promise<{ rate: StageRate; requests: SourcedRequest[] }> {
  const requests: SourcedRequest[] = [];
  let started = 0;
  await readTopicFromStart(kafka, topic, total, async (batch) => {
    started ||= Date.now();
    for (const m of batch.messages) requests.push({ request: await decoder.decode(m.value!), topic, partition: batch.partition, offset: Number(m.offset) });
  });
  return { rate: rate(requests.length, (Date.now() - started) / 1000), requests };
}

/** Raw Redis: the pipeline's dedupe round trips (one pipelined lookup and one pipelined update per chunk). */
export async function rawRedis(redis: RedisClient, prefix: string, requests: readonly SourcedRequest[], chunk: number): Promise<StageRate> {
  const cache = new DecisionCache(redis, prefix, 600, pino({ level: 'silent' }));
  const started = Date.now();
  for (let i = 0; i < requests.length; i += chunk) {
    const slice = requests.slice(i, i + chunk);
    await cache.lookup(slice);
    await cache.remember(
      slice.map((s) => ({
        couponCode: s.request.coupon_code,
        requestId: s.request.request_id,
        op: s.request.op,
        decision: 'APPLIED',
        reason: null,
        remainingQuota: 1,
        sourceTopic: s.topic,
        sourcePartition: s.partition,
        sourceOffset: s.offset,
        decidedAt: Date.now(),
        consumerId: 'bench',
      })),
    );
  }
  return rate(requests.length, (Date.now() - started) / 1000);
}

/** Raw MySQL: the same multi-row flush transactions, fed directly, without Kafka or Redis. */
export async function rawMysql(knex: Knex, requests: readonly SourcedRequest[], chunk: number, concurrency: number): Promise<StageRate> {
  const store = new RedemptionStore(knex);
  // Chunks per partition, partitions flushed concurrently as the consumer does.
  const byPartition = new Map<number, SourcedRequest[]>();
  for (const r of requests) {
    const list = byPartition.get(r.partition);
    if (list) list.push(r);
    else byPartition.set(r.partition, [r]);
  }
  const queues = [...byPartition.values()];
  const started = Date.now();
  const worker = async () => {
    for (let q = queues.shift(); q; q = queues.shift()) {
      for (let i = 0; i < q.length; i += chunk)
        await store.flush(q.slice(i, i + chunk), { consumerId: 'bench', decidedAt: Date.now(), mode: { kind: 'commit' } });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return rate(requests.length, (Date.now() - started) / 1000);
}
