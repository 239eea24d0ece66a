/**
 * The raw limits of the three services on the benchmark's own data, measured with bare clients and none
 * of the pipeline's code: what Kafka, Redis and MySQL can do on this host for this workload, so that the
 * pipeline's drain rate can be read as a share of what the services allow.
 */
import type { Redis } from 'ioredis';
import type { Kafka } from 'kafkajs';
import mysql from 'mysql2/promise';

import { decisionRedisKey } from '../consumers/decision-cache.js';
import type { SourcedRequest } from '../consumers/types.js';
import { currentRanges, readRanges } from '../lib/kafka.js';
import type { Decoder } from '../schemas/registry.js';
import type { RedemptionRequested } from '../schemas/types.js';

export interface StageRate {
  requests: number;
  seconds: number;
  perSecond: number;
  how: string;
}

const rate = (requests: number, seconds: number, how: string): StageRate => ({
  requests,
  seconds,
  perSecond: Math.round(requests / Math.max(seconds, 1e-6)),
  how,
});

/**
 * Raw Kafka: a bare KafkaJS eachBatch consumer (throwaway group, nothing committed, every partition at
 * once) reading and decoding the topic. Timed from the first batch handed over to the moment the last
 * message is decoded, not to the disconnect (leaving the group takes seconds and is not throughput).
 * Keeps what it decoded: the other raw stages use the same requests.
 */
export async function rawKafka(
  kafka: Kafka,
  topic: string,
  partitions: number,
  decoder: Decoder<RedemptionRequested>,
  total: number,
): Promise<{ rate: StageRate; requests: SourcedRequest[] }> {
  const requests: SourcedRequest[] = [];
  let started = 0;
  let ended = 0;
  await readRanges({
    kafka,
    topic,
    ranges: await currentRanges(kafka, topic),
    partitionsConsumedConcurrently: partitions,
    onChunk: async ({ partition, messages }) => {
      started ||= performance.now();
      for (const m of messages) requests.push({ request: await decoder.decode(m.value!), topic, partition, offset: Number(m.offset) });
      if (requests.length >= total && ended === 0) ended = performance.now();
    },
  });
  ended ||= performance.now();
  return {
    rate: rate(requests.length, (ended - started) / 1000, 'bare KafkaJS eachBatch consumer, all partitions at once, Avro decode, timed to the last message'),
    requests,
  };
}

/**
 * Raw Redis: the dedupe lookups of the same requests, one MGET of the decision keys per flush-sized
 * batch, every batch sent at once on one connection (ioredis pipelines them), so that Redis and the
 * socket, not a round trip per batch, set the pace. Half of the keys exist (written beforehand), so
 * hits and misses both cost what they cost.
 */
export async function rawRedis(redis: Redis, prefix: string, requests: readonly SourcedRequest[], chunk: number): Promise<StageRate> {
  const keys = requests.map((r) => decisionRedisKey(prefix, r.request.coupon_code, r.request.request_id));
  for (let i = 0; i < keys.length; i += chunk * 2) {
    const half = keys.slice(i, i + chunk);
    await redis.mset(half.flatMap((k) => [k, '{"decision":"APPLIED","remainingQuota":1}']));
  }
  const started = performance.now();
  const batches: Promise<(string | null)[]>[] = [];
  for (let i = 0; i < keys.length; i += chunk) batches.push(redis.mget(keys.slice(i, i + chunk)));
  const answers = await Promise.all(batches);
  const seconds = (performance.now() - started) / 1000;
  if (answers.reduce((n, a) => n + a.length, 0) !== keys.length) throw new Error('raw Redis: an MGET answered the wrong number of keys');
  return rate(keys.length, seconds, `MGET of ${chunk} keys per batch, all batches pipelined on one connection`);
}

/**
 * Raw MySQL: the rows the pipeline writes for these requests (a decisions row each, a redemptions row per
 * REDEEM, the coupons' counts), as plain multi-row INSERT ... ON DUPLICATE KEY UPDATE statements in one
 * transaction per flush-sized batch, through ONE bare mysql2 connection. No rules, no locking reads, no
 * ORM: the cost of getting the rows in and committed (with the commit's log flush), nothing more.
 * `database` must hold the pipeline's tables (migrated) and the coupons.
 */
export async function rawMysql(mysqlUrl: string, requests: readonly SourcedRequest[], chunk: number): Promise<StageRate> {
  const connection = await mysql.createConnection({ uri: mysqlUrl, timezone: 'Z' });
  try {
    await connection.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
    const started = performance.now();
    for (let i = 0; i < requests.length; i += chunk) {
      const slice = requests.slice(i, i + chunk);
      const now = new Date();
      const decisions = slice.map((s) => [
        s.request.coupon_code,
        s.request.request_id,
        s.request.op,
        'APPLIED',
        null,
        1,
        s.topic,
        s.partition,
        s.offset,
        now,
        'raw',
      ]);
      const redeems = slice.filter((s) => s.request.op === 'REDEEM');
      const redemptions = redeems.map((s) => [
        s.request.coupon_code,
        s.request.request_id,
        s.request.user_id,
        s.request.order_id,
        s.request.amount_cents,
        s.request.currency,
        'REDEEMED',
        s.request.occurred_at,
      ]);
      const perCoupon = new Map<string, number>();
      for (const s of redeems) perCoupon.set(s.request.coupon_code, (perCoupon.get(s.request.coupon_code) ?? 0) + 1);
      await connection.query('BEGIN');
      await connection.query(
        'INSERT INTO decisions (coupon_code, request_id, op, decision, reason, remaining_quota, source_topic, source_partition, source_offset, decided_at, consumer_id) VALUES ? ' +
          'ON DUPLICATE KEY UPDATE decided_at = VALUES(decided_at)',
        [decisions],
      );
      if (redemptions.length > 0) {
        await connection.query(
          'INSERT INTO redemptions (coupon_code, request_id, user_id, order_id, amount_cents, currency, status, created_at) VALUES ? ' +
            'ON DUPLICATE KEY UPDATE status = VALUES(status)',
          [redemptions],
        );
      }
      if (perCoupon.size > 0) {
        // The coupons exist: the upsert only ever takes its UPDATE branch, as the pipeline's does.
        await connection.query(
          'INSERT INTO coupons (code, campaign_id, quota, redeemed_count, per_user_limit, valid_from, valid_until, updated_at) VALUES ? ' +
            'ON DUPLICATE KEY UPDATE redeemed_count = redeemed_count + VALUES(redeemed_count), updated_at = VALUES(updated_at)',
          [[...perCoupon].map(([code, n]) => [code, '', 0, n, 0, now, now, now])],
        );
      }
      await connection.query('COMMIT');
    }
    return rate(
      requests.length,
      (performance.now() - started) / 1000,
      `multi-row INSERT ... ON DUPLICATE KEY UPDATE (decisions, redemptions, coupons), one transaction per ${chunk} requests, one mysql2 connection`,
    );
  } finally {
    await connection.end();
  }
}

/** The combined ceiling of stages that each request passes through in turn: 1 / Σ(1/rate). */
export function combinedCeiling(rates: readonly number[]): number {
  return Math.round(1 / rates.reduce((sum, r) => sum + 1 / r, 0));
}
