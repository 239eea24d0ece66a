import { Command } from 'ioredis';
import { describe, expect, it } from 'vitest';

import { PackedCommand, respOf } from '../../lib/resp-command.js';

/** What ioredis's own Command writes for the same command, as bytes. */
function ioredisBytes(name: string, args: (string | Buffer | number)[]): Buffer {
  const writable = new Command(name, args).toWritable({});
  return typeof writable === 'string' ? Buffer.from(writable, 'utf8') : writable;
}

describe('PackedCommand', () => {
  const cases: [string, (string | Buffer | number)[]][] = [
    ['mget', ['redeem:d2:2:{C1}r1', 'redeem:v:2:{C1}']],
    ['mget', []],
    ['set', ['k', '']],
    ['eval', ['return 1', 2, 'é:{ü}', '\u{1F600}', 604800, 0, '["REDEEM","APPLIED",null,41]', 'x'.repeat(10_000)]],
    ['set', ['lone \ud800 surrogate', Buffer.from([0, 13, 10, 255])]],
    ['mget', Array.from({ length: 1234 }, (_, i) => `key-${i}`)],
  ];

  it('writes the bytes ioredis writes for the same command, in one Buffer', () => {
    for (const [name, args] of cases) {
      const packed = new PackedCommand(name, [...args]).toWritable();
      expect(Buffer.isBuffer(packed)).toBe(true);
      expect(packed.equals(ioredisBytes(name, [...args])), `${name} ${args.length} args`).toBe(true);
    }
  });

  it('counts lengths in bytes, not characters, and writes RESP as the protocol reads it', () => {
    expect(respOf('set', ['é', '10']).toString('latin1')).toBe('*3\r\n$3\r\nset\r\n$2\r\nÃ©\r\n$2\r\n10\r\n');
  });
});
