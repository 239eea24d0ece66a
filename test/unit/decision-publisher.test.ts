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
