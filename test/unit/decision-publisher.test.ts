import type { Kafka, KafkaMessage, ProducerBatch } from 'kafkajs';
import { describe, expect, it } from 'vitest';

import { DecisionPublisher } from '../../consumers/decision-publisher.js';
import type { DeadLetter } from '../../consumers/decode.js';
import type { Codec } from '../../schemas/registry.js';
import type { RedemptionDecided } from '../../schemas/types.js';

/** A Kafka client whose producer records every sendBatch, and whose topics set no message limit. */
function recordingKafka() {
  const batches: ProducerBatch[] = [];
  const producer = { connect: async () => {}, disconnect: async () => {}, sendBatch: async (b: ProducerBatch) => void batches.push(b) };
  const admin = { connect: async () => {}, disconnect: async () => {}, describeConfigs: async () => ({ resources: [] }) };
  return { kafka: { producer: () => producer, admin: () => admin } as unknown as Kafka, batches };
}

const codec: Codec<RedemptionDecided> = {
  encode: (r) => Buffer.from(JSON.stringify(r)),
  decode: async (b) => JSON.parse(b.toString()) as RedemptionDecided,
};

const record = (id: string): RedemptionDecided => ({
  request_id: id,
  coupon_code: 'C',
  op: 'REDEEM',
  decision: 'APPLIED',
  reason: null,
  remaining_quota: 1,
  source_partition: 0,
  source_offset: 4,
  decided_at: new Date(0),
  consumer_id: 'c1',
});

const deadLetter: DeadLetter = {
  message: { key: Buffer.from('C'), value: Buffer.from('not avro'), offset: '5', headers: {} } as unknown as KafkaMessage,
  topic: 'req',
  partition: 0,
  code: 'MESSAGE_UNDECODABLE',
  reason: 'not in the Confluent wire format',
};

describe("a flush's publish", () => {
  it('produces the audit records to the audit topic and the dead letters to <topic>.dlq, acks=all', async () => {
    const { kafka, batches } = recordingKafka();
    const publisher = await DecisionPublisher.connect(kafka, codec, 'audit', 'req', 'c1');
    await publisher.publish([record('r1'), record('r2')], [deadLetter]);
    const sent = batches.flatMap((b) => b.topicMessages!.flatMap((t) => t.messages.map((m) => ({ topic: t.topic, m }))));
    expect(batches.every((b) => b.acks === -1)).toBe(true);
    expect(sent.filter((s) => s.topic === 'audit').map((s) => JSON.parse(String(s.m.value)).request_id)).toEqual(['r1', 'r2']);
    const dead = sent.filter((s) => s.topic === 'req.dlq');
    expect(dead).toHaveLength(1);
    expect(dead[0]!.m.headers).toMatchObject({ 'dlq.code': 'MESSAGE_UNDECODABLE', 'dlq.topic': 'req', 'dlq.partition': '0', 'dlq.offset': '5' });
    expect(String(dead[0]!.m.value)).toBe('not avro');
    await publisher.disconnect();
  });
});

/** A producer whose sendBatch calls each wait until the test settles them, in order. */
function heldKafka() {
  const calls: { batch: ProducerBatch; settle(error?: Error): void }[] = [];
  const producer = {
    connect: async () => {},
    disconnect: async () => {},
    sendBatch: (batch: ProducerBatch) => new Promise<void>((resolve, reject) => calls.push({ batch, settle: (error) => (error ? reject(error) : resolve()) })),
  };
  const admin = { connect: async () => {}, disconnect: async () => {}, describeConfigs: async () => ({ resources: [] }) };
  return { kafka: { producer: () => producer, admin: () => admin } as unknown as Kafka, calls };
}

/** What a produce carried: the audit records' request ids, a dead letter as dlq:<offset>. */
const ids = (batch: ProducerBatch) =>
  batch.topicMessages!.flatMap((t) =>
    t.messages.map((m) =>
      t.topic === 'audit' ? (JSON.parse(String(m.value)) as RedemptionDecided).request_id : `dlq:${String((m.headers ?? {})['dlq.offset'])}`,
    ),
  );
const settled = (p: Promise<void>) =>
  p.then(
    () => 'acknowledged',
    (e: Error) => `failed: ${e.message}`,
  );
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('publishes of concurrent flushes (group commit)', () => {
  it('the publishes that arrive while a produce is in flight go together in the next one, each flush in its order', async () => {
    const { kafka, calls } = heldKafka();
    const publisher = await DecisionPublisher.connect(kafka, codec, 'audit', 'req', 'c1');
    const first = settled(publisher.publish([record('a1'), record('a2')], []));
    await tick();
    const second = settled(publisher.publish([record('b1'), record('b2')], []));
    const third = settled(publisher.publish([record('c1')], [deadLetter]));
    await tick();
    // One produce in flight; the two later publishes wait for it.
    expect(calls.map((c) => ids(c.batch))).toEqual([['a1', 'a2']]);
    calls[0]!.settle();
    expect(await first).toBe('acknowledged');
    await tick();
    expect(calls).toHaveLength(2);
    expect(ids(calls[1]!.batch)).toEqual(['b1', 'b2', 'c1', 'dlq:5']);
    expect(calls[1]!.batch.topicMessages!.map((t) => t.topic)).toEqual(['audit', 'req.dlq']);
    calls[1]!.settle();
    expect([await second, await third]).toEqual(['acknowledged', 'acknowledged']);
    expect(calls).toHaveLength(2);
  });

  it('a produce of several publishes that fails is tried again for each on its own: a publish fails only with its own error', async () => {
    const { kafka, calls } = heldKafka();
    const publisher = await DecisionPublisher.connect(kafka, codec, 'audit', 'req', 'c1');
    const first = settled(publisher.publish([record('a1')], []));
    await tick();
    const second = settled(publisher.publish([record('b1')], []));
    const third = settled(publisher.publish([record('c1')], []));
    calls[0]!.settle();
    await tick();
    calls[1]!.settle(new Error('the broker is gone'));
    await tick();
    // b1 alone first, then c1 alone.
    expect(calls.map((c) => ids(c.batch))).toEqual([['a1'], ['b1', 'c1'], ['b1']]);
    calls[2]!.settle(new Error('b1 refused'));
    await tick();
    expect(ids(calls[3]!.batch)).toEqual(['c1']);
    calls[3]!.settle();
    expect([await first, await second, await third]).toEqual(['acknowledged', 'failed: b1 refused', 'acknowledged']);
    // A publish after the failure: a produce of its own, not stuck behind the failed one.
    const next = settled(publisher.publish([record('d1')], []));
    await tick();
    expect(ids(calls[4]!.batch)).toEqual(['d1']);
    calls[4]!.settle(new Error('alone, it fails with its own error'));
    expect(await next).toBe('failed: alone, it fails with its own error');
    expect(calls).toHaveLength(5);
  });

  it('a publish with nothing to send resolves at once, without a produce', async () => {
    const { kafka, calls } = heldKafka();
    const publisher = await DecisionPublisher.connect(kafka, codec, 'audit', 'req', 'c1');
    expect(await settled(publisher.publish([], []))).toBe('acknowledged');
    expect(calls).toHaveLength(0);
  });
});
