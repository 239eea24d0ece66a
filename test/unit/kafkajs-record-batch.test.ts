import { createRequire } from 'node:module';

import { describe, expect, it } from 'vitest';

/**
 * The one-pass record batch of patches/kafkajs+2.2.4.patch (`UncompressedRecordBatch`, what every
 * uncompressed produce now writes) against KafkaJS's own route to the same bytes (a `Record` encoder per
 * message, copied into `RecordBatch`): byte for byte, over keys, values and headers of every kind the
 * encoder takes, timestamps given and not, multi-byte varints, and idempotent and transactional batches.
 * Then the bytes are read back by KafkaJS's fetch decoder, and their CRC checked, as the broker does.
 */
const require = createRequire(import.meta.url);

interface Message {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, Buffer | string | null | (Buffer | string)[]>;
  timestamp?: string | number;
}
interface BatchOptions {
  firstTimestamp: number;
  maxTimestamp: number;
  producerId?: unknown;
  producerEpoch?: number;
  firstSequence?: number;
  transactional?: boolean;
}
interface Encoder {
  buffer: Buffer;
}
const { RecordBatch, UncompressedRecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as {
  RecordBatch(o: BatchOptions & { records: Encoder[]; lastOffsetDelta: number }): Promise<Encoder>;
  UncompressedRecordBatch(o: BatchOptions & { messages: Message[]; timestampDeltaOf(m: Message): number }): Encoder;
};
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (o: Message & { offsetDelta: number; timestampDelta: number }) => Encoder;
const decodeRecordBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (d: unknown) => Promise<{
  records: { offset: string; timestamp: string; key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer | Buffer[] | null> }[];
  producerId: string;
  inTransaction: boolean;
}>;
const Decoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => unknown;
const Long = require('kafkajs/src/utils/long') as { fromValue(v: number | string): unknown };

const NOW = 1_796_626_449_467;

/** CRC-32C bit by bit (reflected polynomial 0x82F63B78): independent of KafkaJS's table. */
function crc32c(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** The batch both ways: the one-pass encoder's bytes, and KafkaJS's per-record route's. */
async function bothWays(messages: Message[], options: Partial<BatchOptions> = {}) {
  const stamped = messages.map((m) => Number(m.timestamp ?? NOW));
  const firstTimestamp = Math.min(...stamped);
  const batch: BatchOptions = { firstTimestamp, maxTimestamp: Math.max(...stamped), ...options };
  const timestampDeltaOf = (m: Message) => Number(m.timestamp ?? NOW) - firstTimestamp;
  const onePass = UncompressedRecordBatch({ ...batch, messages, timestampDeltaOf }).buffer;
  const records = messages.map((m, i) => Record({ ...m, offsetDelta: i, timestampDelta: timestampDeltaOf(m) }));
  const perRecord = (await RecordBatch({ ...batch, records, lastOffsetDelta: messages.length - 1 })).buffer;
  return { onePass, perRecord };
}

const messageKinds: Message[] = [
  { key: 'C-0001', value: Buffer.from([0, 0, 0, 0, 7, 2, 4]) },
  { key: Buffer.from('binary key'), value: 'a string value' },
  { key: null, value: Buffer.alloc(0) },
  { value: null },
  { key: 'coupon-ünïcödé-✓', value: 'ü'.repeat(100) },
  { key: 'with headers', value: 'v', headers: { reason: 'schema mismatch', 'x-source-offset': Buffer.from('42') } },
  { key: 'repeated header', value: 'v', headers: { trace: ['a', Buffer.from('b'), 'ccc'], empty: [] } },
  { key: 'empty headers', value: 'v', headers: {} },
  { key: 'large value', value: Buffer.alloc(20_000, 7) },
  { key: 'stamped', value: 'v', timestamp: String(NOW - 5_000) },
  { key: 'stamped later', value: 'v', timestamp: NOW + 3_000_000_000 },
];

describe('KafkaJS one-pass record batch (patches/kafkajs+2.2.4.patch)', () => {
  it('writes the same bytes as a Record per message copied into RecordBatch, for every kind of key, value and header', async () => {
    for (const message of messageKinds) {
      const { onePass, perRecord } = await bothWays([message]);
      expect(onePass.equals(perRecord), JSON.stringify(message).slice(0, 80)).toBe(true);
    }
    const { onePass, perRecord } = await bothWays(messageKinds);
    expect(onePass.equals(perRecord)).toBe(true);
  });

  it('writes the same bytes for 2,000 records (multi-byte offset deltas) in an idempotent and in a transactional batch', async () => {
    const messages = Array.from({ length: 2_000 }, (_, i) => ({ key: `C-${i % 97}`, value: Buffer.alloc(100 + (i % 300), i) }));
    for (const options of [
      { producerId: Long.fromValue(4_000_000_001), producerEpoch: 3, firstSequence: 1_234_567 },
      { producerId: Long.fromValue(17), producerEpoch: 1, firstSequence: 0, transactional: true },
    ]) {
      const { onePass, perRecord } = await bothWays(messages, options);
      expect(onePass.length).toBeGreaterThan(200_000);
      expect(onePass.equals(perRecord)).toBe(true);
    }
  });

  it('is read back by the fetch decoder as what was written, with the CRC the broker checks', async () => {
    const { onePass } = await bothWays(messageKinds, { producerId: Long.fromValue(99), transactional: true });
    const decoded = await decodeRecordBatch(new Decoder(onePass));
    expect(decoded.producerId).toBe('99');
    expect(decoded.inTransaction).toBe(true);
    expect(decoded.records.map((r) => r.offset)).toEqual(messageKinds.map((_, i) => String(i)));
    expect(decoded.records.map((r) => r.key?.toString() ?? null)).toEqual(messageKinds.map((m) => (m.key == null ? null : m.key.toString())));
    expect(decoded.records.map((r) => r.value?.toString() ?? null)).toEqual(messageKinds.map((m) => (m.value == null ? null : m.value.toString())));
    expect(decoded.records.map((r) => Number(r.timestamp))).toEqual(messageKinds.map((m) => Number(m.timestamp ?? NOW)));
    expect((decoded.records[6]!.headers.trace as Buffer[]).map((b) => b.toString())).toEqual(['a', 'b', 'ccc']);
    expect(String(decoded.records[5]!.headers.reason)).toBe('schema mismatch');
    // The CRC covers the batch from its attributes (byte 21) to its end: Castagnoli, as Kafka checks it.
    expect(onePass.readUInt32BE(17)).toBe(crc32c(onePass.subarray(21)));
  });

  it('writes a null header value as null, both ways (the per-record route used to fail to size it)', async () => {
    const messages: Message[] = [{ key: 'k', value: 'v', headers: { absent: null, present: 'x' } }];
    const { onePass, perRecord } = await bothWays(messages);
    expect(onePass.equals(perRecord)).toBe(true);
    const decoded = await decodeRecordBatch(new Decoder(onePass));
    expect(decoded.records[0]!.headers).toEqual({ absent: null, present: Buffer.from('x') });
  });
});
