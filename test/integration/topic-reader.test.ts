import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';

import { type ISocketFactory, Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { RedemptionError } from '../../lib/errors.js';
import { createTopicsWithLeaders, type OffsetRange, readRanges, withAdmin } from '../../lib/kafka.js';
import { exactProducer } from './helpers.js';

const BROKERS = [process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'];
const JOIN_GROUP_API_KEY = 11;

/**
 * A socket factory that drops the connection under the first `count` JoinGroup requests it sees: the
 * reader's first join fails and KafkaJS restarts its consumer, as it may beside a broker failover.
 */
function breakingJoins(count: number): { factory: ISocketFactory; broken: () => number } {
  let broken = 0;
  const factory: ISocketFactory = ({ host, port, onConnect }) => {
    const socket = connect({ host, port }, onConnect);
    const write = socket.write.bind(socket) as (chunk: unknown, ...rest: unknown[]) => boolean;
    // Each request is one write: a 4-byte size, then the API key.
    socket.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (Buffer.isBuffer(chunk) && chunk.length >= 6 && chunk.readInt16BE(4) === JOIN_GROUP_API_KEY && broken < count) {
        broken += 1;
        socket.destroy(new Error('connection dropped by the test under a JoinGroup request'));
        return false;
      }
      return write(chunk, ...rest);
    }) as typeof socket.write;
    return socket;
  };
  return { factory, broken: () => broken };
}

function kafka(socketFactory?: ISocketFactory): Kafka {
  return new Kafka({
    clientId: 'topic-reader-test',
    brokers: BROKERS,
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 300, retries: 8, maxRetryTime: 5000 },
    ...(socketFactory ? { socketFactory } : {}),
  });
}

/** "partition/offset" of every message handed over, in the order handed over. */
async function read(k: Kafka, topic: string, ranges: OffsetRange[], stallTimeoutMs?: number, seen: string[] = []): Promise<string[]> {
  await readRanges({ kafka: k, topic, ranges, stallTimeoutMs, onChunk: (c) => void seen.push(...c.messages.map((m) => `${c.partition}/${m.offset}`)) });
  return seen;
}

const offsets = (partition: number, from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${partition}/${from + i}`);

describe('readRanges, the bounded topic reader', () => {
  const topic = `test-reader-${randomBytes(4).toString('hex')}`;
  const plain = kafka();
  const ranges: OffsetRange[] = [
    { partition: 0, from: 5, to: 15 },
    { partition: 1, from: 0, to: 10 },
  ];
  const expected = [...offsets(0, 5, 15), ...offsets(1, 0, 10)].sort();

  beforeAll(async () => {
    await withAdmin(plain, (admin) => createTopicsWithLeaders(admin, [{ topic, numPartitions: 2, replicationFactor: 1 }]));
    const producer = exactProducer(plain);
    await producer.connect();
    const to = (partition: number, n: number) => Array.from({ length: n }, (_, i) => ({ partition, value: `${partition}-${i}` }));
    await producer.send({ topic, acks: -1, messages: [...to(0, 20), ...to(1, 10)] });
    await producer.disconnect();
  });
  afterAll(async () => {
    await withAdmin(plain, (admin) => admin.deleteTopics({ topics: [topic] }));
  });

  it('hands over exactly [from, to) of each partition, each message once', async () => {
    expect((await read(plain, topic, ranges)).sort()).toEqual(expected);
  });

  // Regression: the reader sought right after run() resolved; when its first join had failed, run()
  // resolved with the consumer restarting and no group to seek in ("Consumer group was not initialized,
  // consumer#run must be called first"), which failed a kafka-failover test in a fresh clone's CI.
  it('reads the same when its first join fails and the consumer restarts', async () => {
    const breaker = breakingJoins(1);
    expect((await read(kafka(breaker.factory), topic, ranges)).sort()).toEqual(expected);
    expect(breaker.broken()).toBe(1);
  });

  it('fails with READ_STALLED, naming what is missing, when a range reaches past what will ever arrive', async () => {
    const seen: string[] = [];
    const started = Date.now();
    const error = await read(plain, topic, [{ partition: 0, from: 15, to: 40 }], 3000, seen).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RedemptionError);
    expect((error as RedemptionError).code).toBe('READ_STALLED');
    expect((error as Error).message).toBe(`reading ${topic}: no message arrived for 3 s; not read yet: partition 0 (offsets 20 to 39)`);
    expect(seen).toEqual(offsets(0, 15, 20));
    // 3 s without a message, checked each 0.75 s; the join and first fetch come on top.
    expect(Date.now() - started).toBeLessThan(12_000);
  }, 30_000);
});
