import { describe, expect, it } from 'vitest';

import { parseCouponsCsv } from '../../lib/coupon-csv.js';

const HEADER = 'code,campaign_id,quota,per_user_limit,valid_from,valid_until';

describe('coupons CSV', () => {
  it('parses rows with ISO-8601 times and quoted fields', () => {
    const rows = parseCouponsCsv(`${HEADER}\nA1,"spring, 2026",10,1,2026-01-01T00:00:00Z,2026-02-01T00:00:00+01:00\n\n`);
    expect(rows).toEqual([
      {
        code: 'A1',
        campaign_id: 'spring, 2026',
        quota: 10,
        per_user_limit: 1,
        valid_from: new Date('2026-01-01T00:00:00Z'),
        valid_until: new Date('2026-01-31T23:00:00Z'),
      },
    ]);
  });

  it('reports every bad row by line number and returns nothing', () => {
    const text = [
      HEADER,
      'OK1,c,10,1,2026-01-01T00:00:00Z,2026-02-01T00:00:00Z',
      'BAD1,c,-3,1,2026-01-01T00:00:00Z,2026-02-01T00:00:00Z',
      'BAD2,c,10,1,yesterday,2026-02-01T00:00:00Z',
      'BAD3,c,10,1,2026-03-01T00:00:00Z,2026-02-01T00:00:00Z',
      'OK1,c,10,1,2026-01-01T00:00:00Z,2026-02-01T00:00:00Z',
      'short,row',
    ].join('\n');
    expect(() => parseCouponsCsv(text)).toThrow(
      /5 bad row\(s\), nothing loaded:\nline 3: quota must be a whole number, got "-3"\nline 4: valid_from must be an ISO-8601 time.*\nline 5: valid_until must be after valid_from\nline 6: code OK1 already appears on line 2\nline 7: expected 6 fields, got 2/,
    );
  });

  it('reports every problem of a bad row, not only its first', () => {
    expect(() => parseCouponsCsv(`${HEADER}\nbad code!,,ten,0,soon,2026-02-01T00:00:00Z`)).toThrow(
      /line 2: code must be .*; campaign_id must be 1-64 characters; quota must be a whole number, got "ten"; per_user_limit must be between 1 and 2147483647, got 0; valid_from must be an ISO-8601 time/,
    );
  });

  it('refuses a file without the expected header', () => {
    expect(() => parseCouponsCsv('code,quota\nA,1')).toThrow(/line 1: the header must be/);
  });
});

describe('coupon CSV refuses what it would change (liveness finding 6)', () => {
  const header = 'code,campaign_id,quota,per_user_limit,valid_from,valid_until\n';
  it('refuses a day that does not exist and a year out of range, naming the line', () => {
    expect(() => parseCouponsCsv(`${header}C1,camp,10,1,2026-02-31T00:00:00Z,2026-12-01T00:00:00Z\n`)).toThrow(
      /line 2: valid_from names a day that does not exist/,
    );
    expect(() => parseCouponsCsv(`${header}C1,camp,10,1,0000-01-01T00:00:00Z,2026-12-01T00:00:00Z\n`)).toThrow(/line 2: valid_from must lie within 1970-01-01/);
  });

  it('refuses bytes that are not UTF-8, naming the line', () => {
    const bytes = Buffer.concat([
      Buffer.from(`${header}C1,camp,10,1,2026-01-01T00:00:00Z,2026-12-01T00:00:00Z\nC2,caf`),
      Buffer.from([0xe9]),
      Buffer.from(',10,1,2026-01-01T00:00:00Z,2026-12-01T00:00:00Z\n'),
    ]);
    expect(() => parseCouponsCsv(bytes)).toThrow(/not valid UTF-8: line 3/);
    expect(parseCouponsCsv(Buffer.from(`${header}C1,café,10,1,2026-01-01T00:00:00Z,2026-12-01T00:00:00Z\n`))[0]!.campaign_id).toBe('café');
  });
});
