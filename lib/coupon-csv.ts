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

/** Splits one CSV line; fields may be double-quoted, with "" for a quote inside. */
function splitCsvLine(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      fields.push(field);
      field = '';
    } else field += ch;
  }
  fields.push(field);
  return fields.map((f) => f.trim());
}

function wholeNumber(value: string, field: string, min: number): number {
  if (!/^\d+$/.test(value)) throw new Error(`${field} must be a whole number, got "${value}"`);
  const n = Number(value);
  if (n < min || n > 2_147_483_647) throw new Error(`${field} must be between ${min} and 2147483647, got ${value}`);
  return n;
}

function isoTime(value: string, field: string): Date {
  const parsed = parseIsoInstant(value);
  if (!(parsed instanceof Date)) throw new Error(`${field} ${parsed.problem}`);
  return parsed;
}

/**
 * The file's text, refusing bytes that are not UTF-8 (a file saved as Latin-1, say) with the line they
 * are on, instead of loading U+FFFD in their place.
 */
export function decodeUtf8Lines(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const bad: number[] = [];
    let line = 1;
    let start = 0;
    const strict = new TextDecoder('utf-8', { fatal: true });
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
    throw new InputError('CSV_INVALID', `${what} is not valid UTF-8: line${bad.length > 1 ? 's' : ''} ${shown}`);
  }
}

/**
 * Parses a coupons CSV. Every bad row is reported with its line number, all at once; a file with any
 * bad row yields no coupons at all, so nothing of it is half-loaded.
 */
export function parseCouponsCsv(input: string | Uint8Array): CouponTermsRow[] {
  const text = typeof input === 'string' ? input : decodeUtf8Lines(input, 'the CSV');
  const lines = text.split(/\r?\n/);
  const header = splitCsvLine(lines[0] ?? '');
  if (header.join(',') !== CSV_HEADER.join(',')) {
    throw new InputError('CSV_INVALID', `line 1: the header must be "${CSV_HEADER.join(',')}", got "${lines[0] ?? ''}"`);
  }
  const rows: CouponTermsRow[] = [];
  const problems: string[] = [];
  const seen = new Map<string, number>();
  lines.slice(1).forEach((line, i) => {
    const lineNo = i + 2;
    if (line.trim() === '') return;
    const fields = splitCsvLine(line);
    try {
      if (fields.length !== CSV_HEADER.length) throw new Error(`expected ${CSV_HEADER.length} fields, got ${fields.length}`);
      const [code, campaign, quota, perUser, from, until] = fields as [string, string, string, string, string, string];
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(code)) throw new Error(`code must be 1-64 letters, digits, "_", "." or "-", got "${code}"`);
      if (campaign === '' || campaign.length > 64) throw new Error('campaign_id must be 1-64 characters');
      if (hasControlCharacter(campaign)) throw new Error(`campaign_id must not contain control characters, got ${JSON.stringify(campaign)}`);
      const row: CouponTermsRow = {
        code,
        campaign_id: campaign,
        quota: wholeNumber(quota, 'quota', 0),
        per_user_limit: wholeNumber(perUser, 'per_user_limit', 1),
        valid_from: isoTime(from, 'valid_from'),
        valid_until: isoTime(until, 'valid_until'),
      };
      if (row.valid_until <= row.valid_from) throw new Error('valid_until must be after valid_from');
      const earlier = seen.get(code);
      if (earlier !== undefined) throw new Error(`code ${code} already appears on line ${earlier}`);
      seen.set(code, lineNo);
      rows.push(row);
    } catch (error) {
      problems.push(`line ${lineNo}: ${(error as Error).message}`);
    }
  });
  if (problems.length > 0) throw new InputError('CSV_INVALID', `${problems.length} bad row(s), nothing loaded:\n${problems.join('\n')}`);
  return rows;
}
