import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { avroType, readSchemaText } from '../../schemas/avro.js';
import { RegistryResponseError } from '../../schemas/registry.js';
import type { RedemptionRequested } from '../../schemas/types.js';
import { exactProducer, IsolatedPipeline } from './helpers.js';

function withField(field: Record<string, unknown>): string {
  const schema = JSON.parse(readSchemaText('requested')) as { fields: unknown[] };
  schema.fields.push(field);
  return JSON.stringify(schema);
}

const request: RedemptionRequested = {
  request_id: 'evo-1',
  coupon_code: 'EVO',
  user_id: 'u1',
  order_id: 'o1',
  op: 'REDEEM',
  reverses_request_id: null,
  amount_cents: 4200,
  currency: 'EUR',
  occurred_at: new Date('2026-11-24T10:00:00.123Z'),
  source: 'web',
};

describe('schema evolution in the registry (BACKWARD, topic-name subjects)', () => {
  const p = new IsolatedPipeline();
  const subject = () => `${p.config.redemptionTopic}-value`;

  beforeAll(() => p.setUp());
  afterAll(() => p.cleanup());

  it('accepts an added optional field, and a reader of the old schema still decodes the new records', async () => {
    const registry = p.rt.registry();
    const v1 = await registry.register(subject(), readSchemaText('requested'));
    const v2Text = withField({ name: 'channel', type: ['null', 'string'], default: null });
    const v2 = await registry.register(subject(), v2Text);
    expect(v2).not.toBe(v1);

    const newWriter = registry.codec<RedemptionRequested & { channel: string | null }>(v2, avroType(v2Text));
    const bytes = newWriter.encode({ ...request, channel: 'app' });
    const oldReader = registry.decoderFor<RedemptionRequested>('requested');
    expect(await oldReader.decode(bytes)).toEqual(request);
  });

  it('the consumer decides a record written with the newer schema', async () => {
    const registry = p.rt.registry();
    const v2Text = withField({ name: 'channel', type: ['null', 'string'], default: null });
    const v2 = await registry.register(subject(), v2Text);
    const producer = exactProducer(p.rt.kafka());
    await producer.connect();
    const value = registry.codec<RedemptionRequested & { channel: string | null }>(v2, avroType(v2Text)).encode({ ...request, channel: 'app' });
    await producer.send({ topic: p.config.redemptionTopic, acks: -1, messages: [{ key: request.coupon_code, value }] });
    await producer.disconnect();
    const consumed = await p.cli(['consume', '--exit-when-idle', '1']);
    expect(consumed.code, consumed.stderr).toBe(0);
    const [record] = await p.auditRecords(1);
    expect(record).toMatchObject({ request_id: 'evo-1', decision: 'REJECTED', reason: 'NOT_FOUND' });
  });

  it('refuses an incompatible change at registration with a clear error', async () => {
    const registry = p.rt.registry();
    const incompatible = withField({ name: 'loyalty_tier', type: 'string' });
    const error = await registry.register(subject(), incompatible).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryResponseError);
    expect((error as RegistryResponseError).code).toBe('SCHEMA_INCOMPATIBLE');
    expect((error as Error).message).toMatch(/incompatible with the subject's compatibility rule/);
  });
});
