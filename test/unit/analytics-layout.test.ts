import { describe, expect, it } from 'vitest';

import { chunkFileName, COLUMNS, hourFolder, parseChunkFileName, temporaryName } from '../../analytics/layout.js';
import { formatResult } from '../../analytics/query/format.js';
import { namesCatalogue } from '../../analytics/query/views.js';
import { decisionRow, rowsByHour } from '../../analytics/sink/rows.js';
import type { RedemptionDecided } from '../../schemas/types.js';

const version1: RedemptionDecided = {
  request_id: 'r-1',
  coupon_code: 'C-1',
  op: 'REDEEM',
  decision: 'APPLIED',
  reason: null,
  remaining_quota: 4,
  source_partition: 2,
  source_offset: 17,
  decided_at: new Date('2026-12-05T10:59:59.999Z'),
  consumer_id: 'm-1',
};

describe('the landed layout, version 1', () => {
  it('names a chunk by topic, partition and offsets, and reads the name back', () => {
    const name = chunkFileName('redemption.decided', 3, 1200, 1299);
    expect(name).toBe('redemption.decided-p3-000000001200-000000001299.parquet');
    expect(parseChunkFileName(name)).toEqual({ topic: 'redemption.decided', partition: 3, first: 1200, last: 1299 });
    expect(parseChunkFileName(temporaryName(name))).toBeNull();
    expect(parseChunkFileName('notes.txt')).toBeNull();
  });

  it('puts a decision in the folder of its UTC date and hour', () => {
    expect(hourFolder(new Date('2026-12-05T10:59:59.999Z'))).toBe('decided_date=2026-12-05/decided_hour=10');
    expect(hourFolder(new Date('2026-12-05T00:00:00+01:00'))).toBe('decided_date=2026-12-04/decided_hour=23');
  });

  it('a row has every column; a version-1 record takes the campaign given, a version-2 record keeps its own', () => {
    const row = decisionRow(version1, { partition: 1, offset: 99 }, 'spring');
    expect(Object.keys(row)).toEqual(COLUMNS.map((c) => c.name));
    expect(row).toMatchObject({ campaign_id: 'spring', user_id: null, audit_partition: 1, audit_offset: 99, source_offset: 17 });
    expect(decisionRow({ ...version1, user_id: 'u', campaign_id: 'own' }, { partition: 1, offset: 1 }, 'other').campaign_id).toBe('own');
  });

  it('groups rows by hour in offset order', () => {
    const rows = [10, 11, 12].map((offset, i) =>
      decisionRow({ ...version1, decided_at: new Date(Date.UTC(2026, 11, 5, 10 + (i % 2), 30)) }, { partition: 0, offset }),
    );
    const byHour = rowsByHour(rows);
    expect([...byHour.keys()]).toEqual(['decided_date=2026-12-05/decided_hour=10', 'decided_date=2026-12-05/decided_hour=11']);
    expect(byHour.get('decided_date=2026-12-05/decided_hour=10')!.map((r) => r.audit_offset)).toEqual([10, 12]);
  });
});

describe('audit query output', () => {
  const result = {
    columns: ['campaign', 'n'],
    rows: [
      ['a,"b"', 12],
      ['c', null],
    ] as (string | number | null)[][],
  };

  it('prints a table with numbers to the right, CSV quoted as RFC 4180, JSON lines', () => {
    expect(formatResult(result, 'table')).toBe(['campaign   n', '--------  --', 'a,"b"     12', 'c', '(2 rows)'].join('\n'));
    expect(formatResult(result, 'csv')).toBe('campaign,n\n"a,""b""",12\nc,');
    expect(formatResult(result, 'json')).toBe('{"campaign":"a,\\"b\\"","n":12}\n{"campaign":"c","n":null}');
  });
});

describe('audit query reads the catalogue only when a statement reads it', () => {
  it('after FROM or JOIN, not as a column name', () => {
    expect(namesCatalogue('SELECT * FROM campaigns')).toBe(true);
    expect(namesCatalogue('SELECT d.* FROM decisions d JOIN coupons c ON c.code = d.coupon_code')).toBe(true);
    expect(namesCatalogue('SELECT user_id, count(DISTINCT coupon_code) AS coupons FROM decisions GROUP BY 1')).toBe(false);
  });
});
