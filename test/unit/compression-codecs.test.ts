import kafkajs from 'kafkajs';
import snappy from 'snappyjs';
import { describe, expect, it } from 'vitest';

import { registerCompressionCodecs, snappyDecompress } from '../../lib/compression-codecs.js';

const { CompressionCodecs, CompressionTypes } = kafkajs;

/** A payload as the Java client writes it with snappy: xerial's header, two versions, then sized chunks. */
function xerial(chunks: Buffer[]): Buffer {
  const header = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]);
  const parts = chunks.flatMap((chunk) => {
    const block = Buffer.from(snappy.compress(chunk));
    const size = Buffer.alloc(4);
    size.writeUInt32BE(block.length);
    return [size, block];
  });
  return Buffer.concat([header, ...parts]);
}

describe('compression codecs for batches other clients wrote', () => {
  const text = (n: number) => Buffer.from(`coupon-${n} `.repeat(200));

  it('snappy: reads raw blocks (librdkafka) and xerial framing (the Java client) alike', () => {
    expect(snappyDecompress(Buffer.from(snappy.compress(text(1))))).toEqual(text(1));
    expect(snappyDecompress(xerial([text(1), text(2), text(3)]))).toEqual(Buffer.concat([text(1), text(2), text(3)]));
  });

  it('snappy: a xerial chunk that runs past the end is an error, not a short read', () => {
    const whole = xerial([text(1)]);
    expect(() => snappyDecompress(whole.subarray(0, whole.length - 5))).toThrow(/runs past the end/);
  });

  it('registers snappy, lz4 and zstd with KafkaJS; lz4 and snappy round-trip', async () => {
    registerCompressionCodecs();
    for (const type of [CompressionTypes.Snappy, CompressionTypes.LZ4] as const) {
      const codec = CompressionCodecs[type]();
      const compressed = (await codec.compress({ buffer: text(7) })) as Buffer;
      expect(compressed.length).toBeLessThan(text(7).length);
      expect(await codec.decompress(compressed)).toEqual(text(7));
    }
    await expect(CompressionCodecs[CompressionTypes.ZSTD]().compress({ buffer: text(7) })).rejects.toThrow(/not supported for producing/);
  });
});
