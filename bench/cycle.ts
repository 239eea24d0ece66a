/**
 * The minimal flush cycle on this host, measured in the same run as the latency figures: the steps a
 * flush takes one after another, each as ONE round trip of a bare client with a single message: Redis
 * lookup, MySQL upsert committed (autocommit, so the commit's log flush is in it), Redis update, audit
 * produce (acks=all, idempotent, as the pipeline's) and offset commit. No batching, no waiting for other
 * work: the floor under any request's latency, against which p99 is read as a multiple.
 */
import { randomBytes } from 'node:crypto';

import type { Redis } from 'ioredis';
import type { Kafka } from 'kafkajs';
import mysql from 'mysql2/promise';

import { IDEMPOTENT_PRODUCER } from '../lib/kafka.js';
import { percentile } from './latency.js';

export interface FlushCycle {
  samples: number;
  /** median milliseconds of each step */
  steps: { redisLookup: number; mysqlCommit: number; redisUpdate: number; auditProduce: number; offsetCommit: number };
  /** median of the whole cycle, milliseconds */
  medianMs: number;
  p90Ms: number;
}

export async function minimalFlushCycle(o: {
  kafka: Kafka;
  redis: Redis;
  mysqlUrl: string;
  topic: string;
  auditTopic: string;
  samples: number;
}): Promise<FlushCycle> {
  const producer = o.kafka.producer(IDEMPOTENT_PRODUCER);
  await producer.connect();
  const connection = await mysql.createConnection({ uri: o.mysqlUrl, timezone: 'Z' });
  const consumer = o.kafka.consumer({ groupId: `redeem-cycle-${randomBytes(4).toString('hex')}`, maxWaitTimeInMs: 10 });
  const times: Record<keyof FlushCycle['steps'] | 'total', number[]> = {
    redisLookup: [],
    mysqlCommit: [],
    redisUpdate: [],
    auditProduce: [],
    offsetCommit: [],
    total: [],
  };
  try {
    // The messages the cycle handles, produced first; the cycle starts when one is in hand.
    await producer.send({
      topic: o.topic,
      acks: -1,
      messages: Array.from({ length: o.samples + 1 }, (_, i) => ({ key: 'cycle', value: Buffer.from(String(i)) })),
    });
    await consumer.connect();
    await consumer.subscribe({ topic: o.topic, fromBeginning: true });
    let handled = 0;
    let finish: () => void = () => {};
    const done = new Promise<void>((resolve) => (finish = resolve));
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        if (handled > o.samples) return;
        const key = `bench-cycle-${randomBytes(6).toString('hex')}`;
        const t0 = performance.now();
        await o.redis.get(key);
        const t1 = performance.now();
        await connection.query(
          'INSERT INTO decisions (coupon_code, request_id, op, decision, reason, remaining_quota, source_topic, source_partition, source_offset, decided_at, consumer_id) VALUES (?) ON DUPLICATE KEY UPDATE decided_at = VALUES(decided_at)',
          [['CYCLE', key, 'REDEEM', 'APPLIED', null, 1, o.topic, partition, Number(message.offset), new Date(), 'cycle']],
        );
        const t2 = performance.now();
        await o.redis.set(key, '{}', 'EX', 60);
        const t3 = performance.now();
        await producer.send({ topic: o.auditTopic, acks: -1, messages: [{ key: 'cycle', value: message.value }] });
        const t4 = performance.now();
        await consumer.commitOffsets([{ topic: o.topic, partition, offset: String(Number(message.offset) + 1) }]);
        const t5 = performance.now();
        // The first cycle warms connections up (metadata, the coordinator, the producer id): not counted.
        if (handled > 0) {
          times.redisLookup.push(t1 - t0);
          times.mysqlCommit.push(t2 - t1);
          times.redisUpdate.push(t3 - t2);
          times.auditProduce.push(t4 - t3);
          times.offsetCommit.push(t5 - t4);
          times.total.push(t5 - t0);
        }
        handled += 1;
        if (handled > o.samples) finish();
      },
    });
    await done;
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
    await connection.end();
  }
  const median = (xs: number[]) =>
    Math.round(
      percentile(
        [...xs].sort((a, b) => a - b),
        50,
      ) * 100,
    ) / 100;
  return {
    samples: times.total.length,
    steps: {
      redisLookup: median(times.redisLookup),
      mysqlCommit: median(times.mysqlCommit),
      redisUpdate: median(times.redisUpdate),
      auditProduce: median(times.auditProduce),
      offsetCommit: median(times.offsetCommit),
    },
    medianMs: median(times.total),
    p90Ms:
      Math.round(
        percentile(
          [...times.total].sort((a, b) => a - b),
          90,
        ) * 100,
      ) / 100,
  };
}
