/**
 * The design the pipeline replaces, for the benchmark's baseline: one message at a time per partition,
 * with every partition consumed concurrently (as a competent naive consumer would), one Redis check, one
 * MySQL transaction of single-row statements (READ COMMITTED, as the pipeline's), one audit send and one
 * offset commit per message. Same rules, same tables, same results; only the batching differs.
 */
import type { Redis } from 'ioredis';
import type { Kafka } from 'kafkajs';
import type { Knex } from 'knex';

import { CouponState } from '../consumers/coupon-state.js';
import { decisionRedisKey } from '../consumers/decision-cache.js';
import { decide, type Effect, remainingQuota } from '../consumers/rules.js';
import { IDEMPOTENT_PRODUCER } from '../lib/kafka.js';
import type { Codec, Decoder } from '../schemas/registry.js';
import type { RedemptionDecided, RedemptionRequested } from '../schemas/types.js';

export async function runNaiveConsumer(o: {
  kafka: Kafka;
  knex: Knex;
  redis: Redis;
  decoder: Decoder<RedemptionRequested>;
  auditCodec: Codec<RedemptionDecided>;
  topic: string;
  auditTopic: string;
  groupId: string;
  prefix: string;
  /** partition → stop offset (exclusive); the run ends when every partition reached it */
  stops: Map<number, number>;
}): Promise<{ messages: number; seconds: number }> {
  // The pipeline's producer settings, so the audit sends cost the same per call.
  const producer = o.kafka.producer(IDEMPOTENT_PRODUCER);
  await producer.connect();
  const consumer = o.kafka.consumer({ groupId: o.groupId, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic: o.topic, fromBeginning: true });
  const pending = new Set([...o.stops].filter(([, stop]) => stop > 0).map(([p]) => p));
  let messages = 0;
  let first = 0;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  if (pending.size === 0) finish();
  await consumer.run({
    autoCommit: false,
    // Every partition at once: one message at a time within a partition keeps each coupon's order.
    partitionsConsumedConcurrently: Math.max(1, o.stops.size),
    eachMessage: async ({ partition, message }) => {
      const offset = Number(message.offset);
      if (offset >= (o.stops.get(partition) ?? 0)) return;
      first ||= Date.now();
      const request = await o.decoder.decode(message.value!);
      const key = decisionRedisKey(o.prefix, request.coupon_code, request.request_id);
      const cached = await o.redis.get(key);
      let record: RedemptionDecided;
      if (cached) {
        record = {
          ...(JSON.parse(cached) as RedemptionDecided),
          decision: 'DUPLICATE',
          reason: null,
          remaining_quota: null,
          source_partition: partition,
          source_offset: offset,
          decided_at: new Date(),
        };
      } else {
        record = await decideWithRetry(o.knex, request, partition, offset);
        if (record.decision !== 'DUPLICATE') await o.redis.set(key, JSON.stringify(record), 'EX', 3600);
      }
      await producer.send({ topic: o.auditTopic, acks: -1, messages: [{ key: request.coupon_code, value: o.auditCodec.encode(record) }] });
      await consumer.commitOffsets([{ topic: o.topic, partition, offset: String(offset + 1) }]);
      messages += 1;
      if (offset + 1 >= o.stops.get(partition)!) {
        pending.delete(partition);
        if (pending.size === 0) finish();
      }
    },
  });
  await done;
  const seconds = (Date.now() - first) / 1000;
  await consumer.disconnect();
  await producer.disconnect();
  return { messages, seconds };
}

/** One transaction per message; a deadlock (possible between partitions on index gaps) is retried, as the pipeline retries. */
async function decideWithRetry(knex: Knex, request: RedemptionRequested, partition: number, offset: number): Promise<RedemptionDecided> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await knex.transaction(async (trx) => decideOne(trx, request, partition, offset), { isolationLevel: 'read committed' });
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (attempt >= 10 || (code !== 'ER_LOCK_DEADLOCK' && code !== 'ER_LOCK_WAIT_TIMEOUT')) throw error;
    }
  }
}

/** The naive design's decision of one request: load its coupon's state, decide, write, in one transaction. */
async function decideOne(trx: Knex.Transaction, request: RedemptionRequested, partition: number, offset: number): Promise<RedemptionDecided> {
  const ledger = await loadLedger(trx, request);
  const outcome = decide(ledger, request);
  const now = new Date();
  const base = {
    request_id: request.request_id,
    coupon_code: request.coupon_code,
    op: request.op,
    source_partition: partition,
    source_offset: offset,
    decided_at: now,
    consumer_id: 'naive',
  };
  if (outcome.decision === 'DUPLICATE') return { ...base, decision: 'DUPLICATE', reason: null, remaining_quota: null };
  if (outcome.decision === 'APPLIED') await applyEffect(trx, request, outcome.effect, ledger, now);
  const reason = outcome.decision === 'REJECTED' ? outcome.reason : null;
  await trx('decisions').insert({
    coupon_code: request.coupon_code,
    request_id: request.request_id,
    op: request.op,
    decision: outcome.decision,
    reason,
    remaining_quota: remainingQuota(ledger),
    source_topic: 'naive',
    source_partition: partition,
    source_offset: offset,
    decided_at: now,
    consumer_id: 'naive',
  });
  return { ...base, decision: outcome.decision, reason, remaining_quota: remainingQuota(ledger) };
}

/** The coupon row (locked), whether the request was decided, and the user's count or the redemption refunded. */
async function loadLedger(trx: Knex.Transaction, request: RedemptionRequested): Promise<CouponState> {
  const coupon = (await trx('coupons').where({ code: request.coupon_code }).forUpdate().first()) as
    { quota: number; per_user_limit: number; valid_from: Date; valid_until: Date; redeemed_count: number } | undefined;
  const ledger = new CouponState(
    request.coupon_code,
    coupon
      ? { quota: coupon.quota, perUserLimit: coupon.per_user_limit, validFrom: coupon.valid_from.getTime(), validUntil: coupon.valid_until.getTime() }
      : null,
    coupon?.redeemed_count ?? 0,
  );
  if (await trx('decisions').where({ coupon_code: request.coupon_code, request_id: request.request_id }).first('request_id'))
    ledger.knowDecided(request.request_id);
  if (request.op === 'REDEEM') {
    const [{ n }] = (await trx('redemptions').where({ coupon_code: request.coupon_code, user_id: request.user_id, status: 'REDEEMED' }).count({ n: '*' })) as [
      { n: number },
    ];
    ledger.knowUserCount(request.user_id, Number(n));
  } else if (request.reverses_request_id) {
    const row = (await trx('redemptions').where({ coupon_code: request.coupon_code, request_id: request.reverses_request_id }).first()) as
      Record<string, unknown> | undefined;
    if (row) {
      ledger.knowRedemption({
        couponCode: String(row.coupon_code),
        requestId: String(row.request_id),
        userId: String(row.user_id),
        orderId: String(row.order_id),
        amountCents: Number(row.amount_cents),
        currency: String(row.currency),
        status: row.status as 'REDEEMED' | 'REVERSED',
        createdAt: row.created_at as Date,
        reversedAt: null,
        reversedByRequestId: null,
      });
    }
  }
  return ledger;
}

/** An applied redemption or refund: its row, and the coupon's count. */
async function applyEffect(trx: Knex.Transaction, request: RedemptionRequested, effect: Effect, ledger: CouponState, now: Date): Promise<void> {
  ledger.apply(effect);
  if (effect.kind === 'REDEEM') {
    await trx('redemptions').insert({
      coupon_code: request.coupon_code,
      request_id: request.request_id,
      user_id: request.user_id,
      order_id: request.order_id,
      amount_cents: request.amount_cents,
      currency: request.currency,
      status: 'REDEEMED',
      created_at: request.occurred_at,
    });
  } else {
    await trx('redemptions')
      .where({ coupon_code: request.coupon_code, request_id: effect.redemptionRequestId })
      .update({ status: 'REVERSED', reversed_at: request.occurred_at, reversed_by_request_id: request.request_id });
  }
  await trx('coupons').where({ code: request.coupon_code }).update({ redeemed_count: ledger.redeemedCount, updated_at: now });
}
