/**
 * The registry client's decoder looks each writer schema id up once, and makes one resolver for it, also
 * when many messages are decoded at once (a whole topic under Promise.all): a resolver compiles code of
 * its own, and one per message made a 50,000-record audit read take minutes on a busy host.
 */
import avro from 'avsc';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { avroType, readSchemaText } from '../../schemas/avro.js';
import { SchemaRegistryClient } from '../../schemas/registry.js';
import type { RedemptionDecided } from '../../schemas/types.js';

const WRITER_ID = 7;

/** A client whose registry answers from memory: the project's own audit schema under WRITER_ID. */
class InMemoryRegistry extends SchemaRegistryClient {
  lookups = 0;
  failures = 0;
  override async writerType(id: number): Promise<avro.Type> {
    this.lookups += 1;
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (this.failures > 0) {
      this.failures -= 1;
      throw new Error('the registry does not answer');
    }
    if (id !== WRITER_ID) throw new Error(`unexpected id ${id}`);
    return avroType(readSchemaText('decided'));
  }
}

const record = {
  request_id: 'r1',
  coupon_code: 'C1',
  op: 'REDEEM',
  decision: 'APPLIED',
  reason: null,
  remaining_quota: 9,
  source_partition: 0,
  source_offset: 0,
  decided_at: new Date('2026-12-05T00:00:00Z'),
  consumer_id: 'c1',
};

function wire(): Buffer {
  const header = Buffer.alloc(5);
  header.writeInt32BE(WRITER_ID, 1);
  return Buffer.concat([header, avroType(readSchemaText('decided')).toBuffer(record)]);
}

describe('the registry decoder', () => {
  afterEach(() => vi.restoreAllMocks());

  it('decodes many messages at once with one lookup and one resolver per writer schema', async () => {
    const registry = new InMemoryRegistry('http://127.0.0.1:9');
    const decoder = registry.decoderFor<RedemptionDecided>('decided');
    const resolvers = vi.spyOn(avro.Type.prototype, 'createResolver');
    const message = wire();
    const decoded = await Promise.all(Array.from({ length: 200 }, () => decoder.decode(message)));
    expect(decoded.every((r) => r.request_id === 'r1' && r.decision === 'APPLIED')).toBe(true);
    expect(registry.lookups).toBe(1);
    // A record's resolver makes its fields' resolvers too: count the record's own.
    expect(resolvers.mock.contexts.filter((type) => (type as { name?: string }).name === 'coupons.redemption.RedemptionDecided')).toHaveLength(1);
  });

  it('asks again after a lookup that failed', async () => {
    const registry = new InMemoryRegistry('http://127.0.0.1:9');
    registry.failures = 1;
    const decoder = registry.decoderFor<RedemptionDecided>('decided');
    await expect(decoder.decode(wire())).rejects.toThrow(/does not answer/);
    expect((await decoder.decode(wire())).request_id).toBe('r1');
    expect(registry.lookups).toBe(2);
  });

  it('encodes the wire format: magic byte, schema id, Avro body, also for a record larger than any before it', async () => {
    const registry = new InMemoryRegistry('http://127.0.0.1:9');
    const type = avroType(readSchemaText('decided'));
    const codec = registry.codec<typeof record>(WRITER_ID, type);
    for (const length of [1, 300, 5000, 2, 70000, 3]) {
      const value = { ...record, request_id: 'r'.repeat(length) };
      const bytes = codec.encode(value);
      const header = Buffer.alloc(5);
      header.writeInt32BE(WRITER_ID, 1);
      expect(bytes.equals(Buffer.concat([header, type.toBuffer(value)])), `request id of ${length}`).toBe(true);
      expect((await codec.decode(bytes)).request_id).toHaveLength(length);
    }
  });
});
