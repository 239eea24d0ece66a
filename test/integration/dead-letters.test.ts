import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { deadLetterTopic } from '../../lib/config.js';
import type { RedemptionRequested } from '../../schemas/types.js';
import { request } from './fixtures.js';
import { exactProducer, IsolatedPipeline } from './helpers.js';

const valid = (id: string): RedemptionRequested => request(id, 'DLQ-OK', 'u1', 0, { source: 'test', amount_cents: 100, order_id: `o-${id}` });

describe('poison input goes to the dead-letter topic and the pipeline goes on', () => {
  const p = new IsolatedPipeline();
  beforeAll(() => p.setUp());
  afterAll(() => p.cleanup());

  it('dead-letters each kind of bad message with its reason and origin; produced = decided + dead-lettered', async () => {
    const codec = await p.rt.registry().codecFor<RedemptionRequested>('requested', p.config.redemptionTopic);
    const unknownId = Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0, 1, 2, 3]);
    const oversized = Buffer.concat([codec.encode(valid('big')), Buffer.alloc(p.config.maxMessageBytes, 0x41)]);
    const poison: { key: string | null; value: Buffer | null; code: string; reason: RegExp }[] = [
      { key: 'X', value: Buffer.from('{"not":"avro"}'), code: 'MESSAGE_UNDECODABLE', reason: /not in the Confluent wire format/ },
      { key: 'X', value: unknownId, code: 'MESSAGE_UNDECODABLE', reason: /unknown schema id 2147483632/ },
      { key: '', value: codec.encode({ ...valid('empty'), coupon_code: '' }), code: 'REQUEST_INVALID', reason: /coupon_code must not be empty/ },
      {
        key: 'DLQ-OK',
        value: codec.encode({ ...valid('neg'), amount_cents: -5 }),
        code: 'REQUEST_INVALID',
        reason: /amount_cents must be a whole number >= 0/,
      },
      { key: 'DLQ-OK', value: codec.encode({ ...valid('rev'), op: 'REVERSE' }), code: 'REQUEST_INVALID', reason: /REVERSE needs reverses_request_id/ },
      { key: 'DLQ-OK', value: null, code: 'MESSAGE_UNDECODABLE', reason: /no value/ },
      { key: 'DLQ-OK', value: oversized, code: 'MESSAGE_TOO_LARGE', reason: /over MAX_MESSAGE_BYTES/ },
      { key: 'OTHER', value: codec.encode(valid('wrong-key')), code: 'REQUEST_INVALID', reason: /message key "OTHER" is not the coupon code/ },
    ];
    const good = [valid('g1'), valid('g2'), valid('g3')];
    const producer = exactProducer(p.rt.kafka());
    await producer.connect();
    // Good and bad interleaved on one partition (one key), so the good ones after a bad one must still pass.
    const messages = [
      { key: 'DLQ-OK', value: codec.encode(good[0]!) },
      ...poison.slice(0, 4).map(({ key, value }) => ({ key, value })),
      { key: 'DLQ-OK', value: codec.encode(good[1]!) },
      ...poison.slice(4).map(({ key, value }) => ({ key, value })),
      { key: 'DLQ-OK', value: codec.encode(good[2]!) },
    ];
    await producer.send({ topic: p.config.redemptionTopic, acks: -1, messages });
    await producer.disconnect();

    const consumed = await p.cli(['consume', '--exit-when-idle', '1']);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stdout).toContain(`dead letters ${poison.length}`);

    // Where each message landed, read back from the requests topic: the origin a dead letter must name.
    const sent = await p.readTopic(p.config.redemptionTopic, messages.length);
    expect(sent).toHaveLength(messages.length);
    const origin = (key: string | null, value: Buffer | null) => {
      const found = sent.filter(
        (m) => (m.key === null ? null : m.key.toString()) === key && (m.value === null ? value === null : value !== null && m.value.equals(value)),
      );
      expect(found, `the message ${key}/${value?.toString('hex').slice(0, 16)} on the requests topic`).toHaveLength(1);
      return found[0]!;
    };
    const dead = await p.readTopic(deadLetterTopic(p.config.redemptionTopic), poison.length);
    expect(dead).toHaveLength(poison.length);
    const byReason = dead.map((m) => ({ code: m.headers!['dlq.code']!.toString(), reason: m.headers!['dlq.reason']!.toString(), m }));
    for (const expected of poison) {
      const match = byReason.find((d) => d.code === expected.code && expected.reason.test(d.reason));
      expect(match, `a dead letter ${expected.code} ${expected.reason}`).toBeDefined();
      expect(match!.m.value === null ? null : Buffer.from(match!.m.value)).toEqual(expected.value);
      expect(match!.m.headers!['dlq.topic']!.toString()).toBe(p.config.redemptionTopic);
      const from = origin(expected.key, expected.value);
      expect(match!.m.headers!['dlq.partition']?.toString()).toBe(String(from.partition));
      expect(match!.m.headers!['dlq.offset']?.toString()).toBe(from.offset);
    }
    const audit = await p.auditRecords(good.length);
    expect(audit.map((r) => r.request_id).sort()).toEqual(['g1', 'g2', 'g3']);
    expect(messages.length).toBe(audit.length + dead.length);
  });
});
