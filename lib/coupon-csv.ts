/**
 * Coupons CSV files: `code,campaign_id,quota,per_user_limit,valid_from,valid_until`, parsed with
 * csv-parse (quoting, CRLF, a BOM) and checked row by row. Files are read as streams in constant memory
 * (a million rows is an ordinary campaign), twice: once to check every row, once to load, so that a file
 * with any bad row loads nothing and every bad row is reported at once by its line number.
 */
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';

import { parse } from 'csv-parse';
import { parse as parseSync } from 'csv-parse/sync';

import { InputError } from './errors.js';
import { hasControlCharacter, parseIsoInstant } from './time-input.js';

/** A coupon's terms as loaded from a file or generated; redeemed_count is the pipeline's, never loaded. */
export interface CouponTermsRow {
  code: string;
  campaign_id: string;
  quota: number;
  per_user_limit: number;
  valid_from: Date;
  valid_until: Date;
}

export const CSV_HEADER = ['code', 'campaign_id', 'quota', 'per_user_limit', 'valid_from', 'valid_until'] as const;

/** Bad rows reported in full; beyond this many only counted. */
const MAX_REPORTED = 50;

/** The field's whole number, or its problem added to `problems`. */
function wholeNumber(value: string, field: string, min: number, problems: string[]): number {
  const n = Number(value);
  if (!/^\d+$/.test(value)) problems.push(`${field} must be a whole number, got "${value}"`);
  else if (n < min || n > 2_147_483_647) problems.push(`${field} must be between ${min} and 2147483647, got ${value}`);
  return n;
}

/** The field's time, or its problem added to `problems`. */
function isoTime(value: string, field: string, problems: string[]): Date | null {
  const parsed = parseIsoInstant(value);
  if (parsed instanceof Date) return parsed;
  problems.push(`${field} ${parsed.problem}`);
  return null;
}

/**
 * Checks one record's fields, every one of them: a row's problems are reported together, so one
 * correction fixes the row. `seen` maps each code to its first line, across the file.
 */
function couponOf(fields: readonly string[], line: number, seen: Map<string, number>): CouponTermsRow {
  if (fields.length !== CSV_HEADER.length) throw new Error(`expected ${CSV_HEADER.length} fields, got ${fields.length}`);
  const [code, campaign, quota, perUser, from, until] = fields as [string, string, string, string, string, string];
  const problems: string[] = [];
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(code)) problems.push(`code must be 1-64 letters, digits, "_", "." or "-", got "${code}"`);
  if (campaign === '' || campaign.length > 64) problems.push('campaign_id must be 1-64 characters');
  else if (hasControlCharacter(campaign)) problems.push(`campaign_id must not contain control characters, got ${JSON.stringify(campaign)}`);
  const quotaValue = wholeNumber(quota, 'quota', 0, problems);
  const perUserValue = wholeNumber(perUser, 'per_user_limit', 1, problems);
  const validFrom = isoTime(from, 'valid_from', problems);
  const validUntil = isoTime(until, 'valid_until', problems);
  if (validFrom && validUntil && validUntil <= validFrom) problems.push('valid_until must be after valid_from');
  const earlier = seen.get(code);
  if (earlier !== undefined) problems.push(`code ${code} already appears on line ${earlier}`);
  if (problems.length > 0) throw new Error(problems.join('; '));
  seen.set(code, line);
  return { code, campaign_id: campaign, quota: quotaValue, per_user_limit: perUserValue, valid_from: validFrom!, valid_until: validUntil! };
}

function checkHeader(fields: readonly string[]): void {
  if (fields.join(',') !== CSV_HEADER.join(',')) {
    throw new InputError('CSV_INVALID', `line 1: the header must be "${CSV_HEADER.join(',')}", got "${fields.join(',')}"`);
  }
}

const PARSE_OPTIONS = { trim: true, skip_empty_lines: true, relax_column_count: true, bom: true, info: true } as const;

/** Parses a whole coupons CSV held in memory (tests, small files). Same checks as the file reader. */
export function parseCouponsCsv(input: string | Uint8Array): CouponTermsRow[] {
  const text = typeof input === 'string' ? input : decodeUtf8(input, 'the CSV');
  const records = parseSync(text, PARSE_OPTIONS) as unknown as { record: string[]; info: { lines: number } }[];
  checkHeader(records[0]?.record ?? []);
  const seen = new Map<string, number>();
  const rows: CouponTermsRow[] = [];
  const problems: string[] = [];
  for (const { record, info } of records.slice(1)) {
    try {
      rows.push(couponOf(record, info.lines, seen));
    } catch (error) {
      problems.push(`line ${info.lines}: ${(error as Error).message}`);
    }
  }
  if (problems.length > 0) throw new InputError('CSV_INVALID', `${problems.length} bad row(s), nothing loaded:\n${problems.join('\n')}`);
  return rows;
}

/**
 * Reads a coupons CSV file as a stream, yielding rows in file order. With `check`, every row is
 * checked and the bad ones are reported together at the end (InputError); pass the file once with
 * `check` before loading anything.
 */
export async function* readCouponsFile(path: string): AsyncGenerator<CouponTermsRow> {
  const records = createReadStream(path).pipe(new Utf8Lines(path)).pipe(parse(PARSE_OPTIONS));
  const seen = new Map<string, number>();
  const problems: string[] = [];
  let bad = 0;
  let first = true;
  try {
    for await (const { record, info } of records as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      if (first) {
        checkHeader(record);
        first = false;
        continue;
      }
      let row: CouponTermsRow;
      try {
        row = couponOf(record, info.lines, seen);
      } catch (error) {
        bad += 1;
        if (problems.length < MAX_REPORTED) problems.push(`line ${info.lines}: ${(error as Error).message}`);
        continue;
      }
      // Once a row is bad nothing will be loaded: keep checking, stop handing rows out.
      if (bad === 0) yield row;
    }
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError('CSV_INVALID', `${path}: ${(error as Error).message}`);
  }
  if (first) checkHeader([]);
  if (bad > 0) {
    const more = bad > problems.length ? `\n... and ${bad - problems.length} more` : '';
    throw new InputError('CSV_INVALID', `${bad} bad row(s), nothing loaded:\n${problems.join('\n')}${more}`);
  }
}

/** The text of `bytes`, refusing bytes that are not UTF-8 with the lines they are on. */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InputError('CSV_INVALID', `${what} is not valid UTF-8: ${badLines(bytes, 1)}`);
  }
}

/** "line N" (or "lines N, M, ...") for the lines of `bytes` that are not UTF-8, counting from `firstLine`. */
function badLines(bytes: Uint8Array, firstLine: number): string {
  const bad: number[] = [];
  const strict = new TextDecoder('utf-8', { fatal: true });
  let start = 0;
  let line = firstLine;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0x0a) {
      try {
        strict.decode(bytes.subarray(start, i));
      } catch {
        bad.push(line);
      }
      line += 1;
      start = i + 1;
    }
  }
  const shown = bad.slice(0, 10).join(', ') + (bad.length > 10 ? ` and ${bad.length - 10} more` : '');
  return `line${bad.length > 1 ? 's' : ''} ${shown}`;
}

/**
 * Passes a byte stream on as text, whole lines at a time, failing on the first line that is not UTF-8
 * (a file saved as Latin-1, say) instead of letting U+FFFD in.
 */
class Utf8Lines extends Transform {
  private pending: Buffer = Buffer.alloc(0);
  private line = 1;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(private readonly what: string) {
    super({ readableObjectMode: false });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const bytes = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const end = bytes.lastIndexOf(0x0a) + 1;
    this.pending = bytes.subarray(end);
    this.emitLines(bytes.subarray(0, end), done);
  }

  override _flush(done: TransformCallback): void {
    this.emitLines(this.pending, done);
  }

  private emitLines(bytes: Buffer, done: TransformCallback): void {
    try {
      const text = this.decoder.decode(bytes);
      for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x0a) this.line += 1;
      done(null, text);
    } catch {
      done(new InputError('CSV_INVALID', `${this.what} is not valid UTF-8: ${badLines(bytes, this.line)}`));
    }
  }
}
