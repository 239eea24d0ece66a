import { createRequire } from 'node:module';

import { describe, expect, it } from 'vitest';

/**
 * KafkaJS's record codec as patches/kafkajs+2.2.4.patch leaves it: varints written in place, small
 * varlongs and record offsets and timestamps without Long objects (unpatched, a record's varints, Longs
 * and growing buffers were most of the consumer's allocations). The bytes and values must be Kafka's:
 * the vectors below are the protocol's zigzag varints, and past the fast paths' ranges the Long paths run.
 */
const require = createRequire(import.meta.url);
interface Encoder {
  writeVarInt(v: number): Encoder;
  writeUVarInt(v: number): Encoder;
  writeVarLong(v: number | bigint): Encoder;
  buffer: Buffer;
}
interface LongValue {
  toString(): string;
}
interface Decoder {
  readVarLong(): LongValue;
  readVarIntBytes(): Buffer;
}
const EncoderClass = require('kafkajs/src/protocol/encoder') as { new (size?: number): Encoder; sizeOfVarLong(v: number | bigint): number };
const DecoderClass = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => Decoder;
const encodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index') as (r: {
  offsetDelta: number;
  timestampDelta: number;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, string | string[]>;
}) => Encoder;
const decodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0/decoder') as (
  d: Decoder,
  ctx: { firstOffset: string; firstTimestamp: string; magicByte: number; timestampType: number },
) => { offset: string; timestamp: string; key: Buffer | null; value: Buffer | null; headers: Record<string, unknown> };

const hex = (e: Encoder) => e.buffer.toString('hex');

describe('the KafkaJS patch: the record codec', () => {
  it("writes Kafka's zigzag varints and varlongs, on both sides of the fast path's range", () => {
    const vectors: [number | bigint, string][] = [
      [0, '00'],
      [-1, '01'],
      [1, '02'],
      [63, '7e'],
      [-64, '7f'],
      [64, '8001'],
      [300, 'd804'],
      [-(2 ** 30), 'ffffffff07'],
      [2 ** 30 - 1, 'feffffff07'],
      [2 ** 30, '8080808008'],
      [2 ** 35, '808080808002'],
      [-(2n ** 63n), 'ffffffffffffffffff01'],
    ];
    for (const [value, bytes] of vectors) {
      expect(hex(new EncoderClass().writeVarLong(value)), String(value)).toBe(bytes);
      expect(EncoderClass.sizeOfVarLong(value), String(value)).toBe(bytes.length / 2);
      expect(new DecoderClass(Buffer.from(bytes, 'hex')).readVarLong().toString(), String(value)).toBe(String(value));
    }
    expect(
      hex(
        new EncoderClass()
          .writeUVarInt(0)
          .writeUVarInt(127)
          .writeUVarInt(128)
          .writeUVarInt(2 ** 31),
      ),
    ).toBe('007f80018080808008');
  });

  it('round-trips random varlongs of every width', () => {
    for (let i = 0; i < 20_000; i++) {
      const value = Math.floor((Math.random() - 0.5) * 2 ** (1 + (i % 53)));
      expect(new DecoderClass(new EncoderClass(1).writeVarLong(value).buffer).readVarLong().toString()).toBe(String(value));
    }
  });

  it("decodes a record's offset and timestamp exactly, also past 2^53 where the Long path takes over", () => {
    const record = encodeRecord({ offsetDelta: 7, timestampDelta: -5, key: Buffer.from('k'), value: Buffer.from('v'), headers: { a: 'b', c: ['d', 'e'] } });
    const read = (firstOffset: string, firstTimestamp: string) =>
      decodeRecord(new DecoderClass(new DecoderClass(record.buffer).readVarIntBytes()), { firstOffset, firstTimestamp, magicByte: 2, timestampType: 0 });
    const small = read('41', '1796517000829');
    expect([small.offset, small.timestamp]).toEqual(['48', '1796517000824']);
    expect([small.key?.toString(), small.value?.toString()]).toEqual(['k', 'v']);
    expect(small.headers).toEqual({ a: Buffer.from('b'), c: [Buffer.from('d'), Buffer.from('e')] });
    const edge = read('9007199254740988', '9007199254740990');
    expect([edge.offset, edge.timestamp]).toEqual(['9007199254740995', '9007199254740985']);
    const huge = read('9223372036854775800', '12345678901234567890');
    expect([huge.offset, huge.timestamp]).toEqual(['9223372036854775807', '12345678901234567885']);
  });
});
