/**
 * The minimal flush cycle on this host, measured in the same run as the latency figures: the steps a
 * flush takes one after another, each as ONE round trip of a bare client with a single message: Redis
 * lookup, MySQL upsert committed (autocommit, so the commit's log flush is in it), Redis update, audit
 * produce (acks=all, idempotent, as the pipeline's) and offset commit. No batching, no waiting for other
 * work: the floor under any request's latency, against which p99 is read as a multiple.
 */
import { randomBytes } from 'node:crypto';

import type { Redis } from 'ioredis';
import type { Consumer, Kafka, KafkaMessage, Producer } from 'kafkajs';
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

interface CycleOptions {
  kafka: Kafka;
  redis: Redis;
  mysqlUrl: string;
  topic: string;
  auditTopic: string;
  samples: number;
}

type Step = keyof FlushCycle['steps'];
const STEPS: readonly Step[] = ['redisLookup', 'mysqlCommit', 'redisUpdate', 'auditProduce', 'offsetCommit'];

export async function minimalFlushCycle(o: CycleOptions): Promise<FlushCycle> {
  const producer = o.kafka.producer(IDEMPOTENT_PRODUCER);
  await producer.connect();
  const connection = await mysql.createConnection({ uri: o.mysqlUrl, timezone: 'Z' });
  const consumer = o.kafka.consumer({ groupId: `redeem-cycle-${randomBytes(4).toString('hex')}`, maxWaitTimeInMs: 10 });
  // One row per cycle: the milliseconds of each step, in STEPS order.
  const cycles: number[][] = [];
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
        const steps = await oneCycle(o, { connection, producer, consumer }, partition, message);
        // The first cycle warms connections up (metadata, the coordinator, the producer id): not counted.
        if (handled > 0) cycles.push(steps);
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
  return summarise(cycles);
}

/** One message through every step, each one round trip; the milliseconds of each. */
async function oneCycle(
  o: CycleOptions,
  c: { connection: mysql.Connection; producer: Producer; consumer: Consumer },
  partition: number,
  message: KafkaMessage,
): Promise<number[]> {
  const key = `bench-cycle-${randomBytes(6).toString('hex')}`;
  const marks = [performance.now()];
  const mark = () => marks.push(performance.now());
  await o.redis.get(key);
  mark();
  await c.connection.query(
    'INSERT INTO decisions (coupon_code, request_id, op, decision, reason, remaining_quota, source_topic, source_partition, source_offset, decided_at, consumer_id) VALUES (?) ON DUPLICATE KEY UPDATE decided_at = VALUES(decided_at)',
    [['CYCLE', key, 'REDEEM', 'APPLIED', null, 1, o.topic, partition, Number(message.offset), new Date(), 'cycle']],
  );
  mark();
  await o.redis.set(key, '{}', 'EX', 60);
  mark();
  await c.producer.send({ topic: o.auditTopic, acks: -1, messages: [{ key: 'cycle', value: message.value }] });
  mark();
  await c.consumer.commitOffsets([{ topic: o.topic, partition, offset: String(Number(message.offset) + 1) }]);
  mark();
  return STEPS.map((_, i) => marks[i + 1]! - marks[i]!);
}

/** Median of each step and of the whole cycle, and the cycle's p90, in hundredths of a millisecond. */
function summarise(cycles: readonly number[][]): FlushCycle {
  const at = (xs: number[], p: number) =>
    Math.round(
      percentile(
        [...xs].sort((a, b) => a - b),
        p,
      ) * 100,
    ) / 100;
  const totals = cycles.map((steps) => steps.reduce((a, b) => a + b, 0));
  const steps = Object.fromEntries(
    STEPS.map((step, i) => [
      step,
      at(
        cycles.map((c) => c[i]!),
        50,
      ),
    ]),
  ) as FlushCycle['steps'];
  return { samples: cycles.length, steps, medianMs: at(totals, 50), p90Ms: at(totals, 90) };
}
