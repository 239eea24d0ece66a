import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { checkpointPath, readCheckpoint, writeCheckpoint } from '../../cli/commands/produce.js';
import { checkRequestLines } from '../../producers/request-file.js';

const good = JSON.stringify({
  request_id: 'r1',
  coupon_code: 'C',
  user_id: 'ü',
  order_id: 'o',
  op: 'REDEEM',
  amount_cents: 1,
  currency: 'EUR',
  occurred_at: '2026-11-24T00:00:00Z',
  source: 's',
});

describe('request files', () => {
  it('refuse bytes that are not UTF-8, naming the line and the byte, instead of reading U+FFFD', async () => {
    const bytes = Buffer.concat([Buffer.from(`${good}\n`), Buffer.from(good.slice(0, 30)), Buffer.from([0xff]), Buffer.from(`${good.slice(30)}\r\n${good}\n`)]);
    // Chunks that split the input anywhere, as a pipe would deliver it.
    const check = await checkRequestLines(Readable.from([bytes.subarray(0, 7), bytes.subarray(7, 290), bytes.subarray(290)]));
    expect(check.badCount).toBe(1);
    expect(check.bad).toEqual(['line 2: not valid UTF-8 (byte 31 of the line, 0xff)']);
    expect(check.requests).toBe(2);
    expect(check.lines).toBe(3);
  });

  it('read valid multi-byte characters, split across chunks, and genuine U+FFFD as text', async () => {
    const line = good.replace('"s"', '"\uFFFD€"');
    const bytes = Buffer.from(`${line}\n${line}`);
    const cut = bytes.indexOf(Buffer.from('€')) + 1;
    const check = await checkRequestLines(Readable.from([bytes.subarray(0, cut), bytes.subarray(cut)]));
    expect(check).toEqual({ bad: [], badCount: 0, requests: 2, requestsUpTo: 0, lines: 2 });
  });
});

describe('the produce checkpoint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'checkpoint-test-'));

  it('is written atomically, replacing a symlink rather than writing through it', () => {
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious\n');
    const checkpoint = checkpointPath(join(dir, 'requests.jsonl'));
    symlinkSync(victim, checkpoint);
    writeCheckpoint(checkpoint, 42);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lstatSync(checkpoint).isSymbolicLink()).toBe(false);
    expect(readCheckpoint(checkpoint)).toBe(42);
    writeCheckpoint(checkpoint, 43);
    expect(readCheckpoint(checkpoint)).toBe(43);
    // No temporary files left behind.
    expect(readdirSync(dir).sort()).toEqual(['requests.jsonl.produced', 'victim']);
  });

  it('is refused by --resume when missing, empty, not a number, a symlink or not a file', () => {
    const at = (name: string) => checkpointPath(join(dir, name));
    expect(() => readCheckpoint(at('never-sent'))).toThrow(/there is no checkpoint .*never-sent\.produced, so there is nothing to resume/);
    writeFileSync(at('empty'), '');
    expect(() => readCheckpoint(at('empty'))).toThrow(/empty\.produced is empty; remove it/);
    writeFileSync(at('garbage'), '12abc\n');
    expect(() => readCheckpoint(at('garbage'))).toThrow(/does not hold a line number/);
    writeFileSync(join(dir, 'target'), '7\n');
    symlinkSync(join(dir, 'target'), at('linked'));
    expect(() => readCheckpoint(at('linked'))).toThrow(/is a symlink, which is never followed/);
    mkdirSync(at('dir'));
    expect(() => readCheckpoint(at('dir'))).toThrow(/is not a regular file/);
    expect(existsSync(join(dir, 'target'))).toBe(true);
  });
});
