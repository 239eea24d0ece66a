import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';

import { deadLetterMessage, packCalls, TRUNCATED_COPY_BYTES } from '../../consumers/decision-publisher.js';
import type { DeadLetter } from '../../consumers/decode.js';

const message = (value: Buffer): KafkaMessage => ({ key: Buffer.from('C1'), value, offset: '42', timestamp: '0', attributes: 0, headers: {} }) as KafkaMessage;
const deadLetter = (value: Buffer): DeadLetter => ({ message: message(value), topic: 't', partition: 3, code: 'MESSAGE_TOO_LARGE', reason: 'too large' });

describe('dead letters always fit', () => {
  it('carries a value that fits as it is', () => {
    const out = deadLetterMessage(deadLetter(Buffer.alloc(1000, 1)), 'c', 64 * 1024);
    expect(out.message.value).toHaveLength(1000);
    expect(out.message.headers!['dlq.truncated']).toBeUndefined();
    expect(out.topic).toBe('t.dlq');
  });

  it('replaces a value too large to carry by a truncated copy, with its size and place in headers', () => {
    const out = deadLetterMessage(deadLetter(Buffer.alloc(1_000_000, 1)), 'c', 64 * 1024);
    expect(out.message.value).toHaveLength(TRUNCATED_COPY_BYTES);
    expect(out.message.headers).toMatchObject({
      'dlq.truncated': 'true',
      'dlq.original-bytes': '1000000',
      'dlq.topic': 't',
      'dlq.partition': '3',
      'dlq.offset': '42',
    });
    expect(out.bytes).toBeLessThan(4096);
  });

  it('splits produce calls under the limit, in order, never dropping one', () => {
    const items = [600, 600, 100, 900, 2000, 1].map((bytes, i) => ({ bytes, i }));
    const calls = packCalls(items, 1000);
    expect(calls.map((c) => c.map((x) => x.i))).toEqual([[0], [1, 2], [3], [4], [5]]);
    for (const call of calls) if (call.length > 1) expect(call.reduce((s, x) => s + x.bytes, 0)).toBeLessThanOrEqual(1000);
  });
});
