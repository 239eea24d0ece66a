/**
 * KafkaJS reads only gzip-compressed batches by itself; a batch that another client compressed with
 * Snappy, LZ4 or Zstandard (librdkafka's and the Java client's common choices) made it fail the whole
 * fetch, restart onto the same batch, and stop its partition for good. These codecs are pure JavaScript
 * (no native build). The project's own producers do not compress; Zstandard is read only.
 */
import { decompress as zstdDecompress } from 'fzstd';
import kafkajs from 'kafkajs';
import { compress as lz4Compress, decompress as lz4Decompress } from 'lz4js';
import snappy from 'snappyjs';

/** xerial snappy-java's stream header, which the Java client (and librdkafka for it) writes. */
const XERIAL_HEADER = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
/** The header is followed by two 4-byte version fields, then chunks of (4-byte size, snappy block). */
const XERIAL_CHUNKS_OFFSET = 16;

interface Encoder {
  buffer: Buffer;
}

export function snappyDecompress(buffer: Buffer): Buffer {
  if (!buffer.subarray(0, XERIAL_HEADER.length).equals(XERIAL_HEADER)) return Buffer.from(snappy.uncompress(buffer));
  const chunks: Buffer[] = [];
  let offset = XERIAL_CHUNKS_OFFSET;
  while (offset + 4 <= buffer.length) {
    const size = buffer.readUInt32BE(offset);
    offset += 4;
    if (offset + size > buffer.length) throw new Error(`snappy: a chunk of ${size} bytes runs past the end of the batch`);
    chunks.push(Buffer.from(snappy.uncompress(buffer.subarray(offset, offset + size))));
    offset += size;
  }
  return Buffer.concat(chunks);
}

// Through the default export: Node's CommonJS interop does not see these two as named exports.
const { CompressionCodecs, CompressionTypes } = kafkajs;

let registered = false;

/** Registers the codecs with KafkaJS (once per process; KafkaJS keeps them globally). */
export function registerCompressionCodecs(): void {
  if (registered) return;
  registered = true;
  CompressionCodecs[CompressionTypes.Snappy] = () => ({
    compress: async (encoder: Encoder) => Buffer.from(snappy.compress(encoder.buffer)),
    decompress: async (buffer: Buffer) => snappyDecompress(buffer),
  });
  CompressionCodecs[CompressionTypes.LZ4] = () => ({
    compress: async (encoder: Encoder) => Buffer.from(lz4Compress(encoder.buffer)),
    decompress: async (buffer: Buffer) => Buffer.from(lz4Decompress(buffer)),
  });
  CompressionCodecs[CompressionTypes.ZSTD] = () => ({
    compress: async () => {
      throw new Error('Zstandard compression is not supported for producing; use gzip or none');
    },
    decompress: async (buffer: Buffer) => Buffer.from(zstdDecompress(buffer)),
  });
}
