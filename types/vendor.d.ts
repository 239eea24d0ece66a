// Declarations for pure-JavaScript packages that ship no types of their own (see lib/compression-codecs.ts).

declare module 'lz4js' {
  /** Compresses to an LZ4 frame. */
  export function compress(src: Uint8Array, maxSize?: number): Uint8Array;
  /** Decompresses an LZ4 frame. */
  export function decompress(src: Uint8Array, maxSize?: number): Uint8Array;
}

declare module 'snappyjs' {
  /** Compresses to a raw snappy block. */
  export function compress(input: Uint8Array): Uint8Array;
  /** Decompresses a raw snappy block. */
  export function uncompress(input: Uint8Array, maxLength?: number): Uint8Array;
  const snappy: { compress: typeof compress; uncompress: typeof uncompress };
  export default snappy;
}
