import type { Message, Producer, ProducerRecord, RecordMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';

import { type AimedMessage, sendAcknowledged } from '../../producers/acknowledged-send.js';

// The client's own check of a produce's answer, per partition (an installed client may run on an
// unpatched KafkaJS, whose send() could resolve without a partition after a leader change).

type Answer = (record: ProducerRecord) => RecordMetadata[] | Error | 'hang';

function fakeProducer(answers: Answer[]): { producer: Producer; calls: Message[][] } {
  const calls: Message[][] = [];
  const producer = {
    send: (record: ProducerRecord) => {
      calls.push(record.messages);
      const outcome = (answers.shift() ?? acknowledgeAll)(record);
      if (outcome === 'hang') return new Promise(() => {});
      return outcome instanceof Error ? Promise.reject(outcome) : Promise.resolve(outcome);
    },
  } as unknown as Producer;
  return { producer, calls };
}

const ack = (partition: number): RecordMetadata => ({ topicName: 't', partition, errorCode: 0, baseOffset: String(10 + partition) });
const acknowledgeAll: Answer = (r) => [...new Set(r.messages.map((m) => m.partition!))].map(ack);
const messages: AimedMessage[] = [0, 1, 2, 1].map((partition, i) => ({ partition, key: `k${i}`, value: `v${i}` }));
const options = (deadline = Date.now() + 5000) => ({ deadline, timeoutError: async () => new Error('timed out') });

function retriable(): Error {
  const error = new Error('This server is not the leader for that topic-partition');
  error.name = 'KafkaJSProtocolError';
  Object.assign(error, { retriable: true });
  return error;
}

describe('sendAcknowledged', () => {
  it('sends again, to the same partition, only the messages whose partition the answer lacks', async () => {
    const { producer, calls } = fakeProducer([() => [ack(0), ack(2)]]);
    const resent: number[][] = [];
    const { acks, offsets } = await sendAcknowledged(producer, 't', messages, { ...options(), onResend: (_, partitions) => resent.push([...partitions]) });
    expect(calls.map((c) => c.map((m) => m.value))).toEqual([
      ['v0', 'v1', 'v2', 'v3'],
      ['v1', 'v3'],
    ]);
    expect(calls[1]!.every((m) => m.partition === 1)).toBe(true);
    expect(resent).toEqual([[1]]);
    expect(acks.map((a) => a.partition)).toEqual([0, 1, 2]);
    // Each message's offset: its partition's base offset in the answer that wrote it, then one more each.
    expect(offsets).toEqual([10, 11, 12, 12]);
  });

  it('a partition answered with an error code is not acknowledged', async () => {
    const { producer, calls } = fakeProducer([() => [ack(0), { ...ack(1), errorCode: 6 }, ack(2)]]);
    await sendAcknowledged(producer, 't', messages, options());
    expect(calls).toHaveLength(2);
  });

  it('retries a retriable failure, and throws any other at once', async () => {
    const again = fakeProducer([retriable]);
    await sendAcknowledged(again.producer, 't', messages, options());
    expect(again.calls).toHaveLength(2);
    const refused = fakeProducer([() => new Error('authorization failed')]);
    await expect(sendAcknowledged(refused.producer, 't', messages, options())).rejects.toThrow('authorization failed');
    expect(refused.calls).toHaveLength(1);
  });

  it("fails with the caller's error at the deadline, even while KafkaJS still retries", async () => {
    const { producer } = fakeProducer([() => 'hang']);
    const started = Date.now();
    await expect(sendAcknowledged(producer, 't', messages, options(Date.now() + 100))).rejects.toThrow('timed out');
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
