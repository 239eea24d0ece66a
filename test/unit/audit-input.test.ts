import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';

import { firstOfEachSource } from '../../analytics/first-of-each-source.js';
import { auditPartitions, matches } from '../../cli/commands/audit.js';
import { parseWhen, rangeProblem } from '../../cli/when.js';
import type { RedemptionDecided } from '../../schemas/types.js';

const NOW = new Date('2026-12-05T03:30:00.000Z');
const at = (text: string, edge: 'since' | 'until' = 'since') => {
  const parsed = parseWhen(text, edge, NOW);
  return parsed instanceof Date ? parsed.toISOString() : parsed.problem;
};

describe('--since/--until', () => {
  it('takes durations ago', () => {
    expect(at('90s')).toBe('2026-12-05T03:28:30.000Z');
    expect(at('30m')).toBe('2026-12-05T03:00:00.000Z');
    expect(at('1h')).toBe('2026-12-05T02:30:00.000Z');
    expect(at('2d', 'until')).toBe('2026-12-03T03:30:00.000Z');
  });

  it('takes dates, yesterday and today as UTC days: a start for --since, an end for --until', () => {
    expect(at('2026-12-04')).toBe('2026-12-04T00:00:00.000Z');
    expect(at('2026-12-04', 'until')).toBe('2026-12-04T23:59:59.999Z');
    expect(at('yesterday')).toBe('2026-12-04T00:00:00.000Z');
    expect(at('yesterday', 'until')).toBe('2026-12-04T23:59:59.999Z');
    expect(at('today')).toBe('2026-12-05T00:00:00.000Z');
    expect(at('today', 'until')).toBe('2026-12-05T23:59:59.999Z');
  });

  it('takes ISO-8601 times with a zone', () => {
    expect(at('2026-12-04T10:00:00Z')).toBe('2026-12-04T10:00:00.000Z');
    expect(at('2026-12-04T11:00:00+01:00', 'until')).toBe('2026-12-04T10:00:00.000Z');
  });

  it('refuses anything else, saying what it takes', () => {
    for (const bad of ['', 'last week', '1w', '-1h', '1.5h', 'Yesterday', '04/12/2026', '2026-12', 'tomorrow']) {
      expect(at(bad)).toMatch(/^must be a date \(2026-12-04\), yesterday, today, a duration ago \(90s, 30m, 1h, 2d\) or an ISO-8601 time/);
    }
    expect(at('2026-02-30')).toBe('names a day that does not exist: "2026-02-30"');
    expect(at('2026-12-04T10:00:00')).toMatch(/must be an ISO-8601 time with a zone/);
    expect(at('2026-12-04T25:00:00Z')).toMatch(/names a time of day that does not exist/);
    expect(at('0001-01-01')).toMatch(/must lie within 1970-01-01/);
  });

  it('refuses an --until before --since', () => {
    expect(rangeProblem(new Date('2026-12-05T00:00:00Z'), new Date('2026-12-04T00:00:00Z'))).toMatch(/--until .* is before --since/);
    expect(rangeProblem(new Date('2026-12-04T00:00:00Z'), new Date('2026-12-04T00:00:00Z'))).toBeNull();
    expect(rangeProblem(undefined, new Date())).toBeNull();
  });
});

const record = (over: Partial<RedemptionDecided>): RedemptionDecided => ({
  request_id: 'r-1',
  coupon_code: 'C-1',
  op: 'REDEEM',
  decision: 'APPLIED',
  reason: null,
  remaining_quota: 9,
  source_partition: 0,
  source_offset: 0,
  decided_at: NOW,
  consumer_id: 'c-1',
  ...over,
});

describe('each source record once', () => {
  it('passes the first record of a (source_partition, source_offset) and no repeat', () => {
    const first = firstOfEachSource();
    const stream = [
      record({ source_partition: 0, source_offset: 0 }),
      record({ source_partition: 1, source_offset: 0 }),
      record({ source_partition: 0, source_offset: 1, decision: 'DUPLICATE', remaining_quota: null }),
      // A replay re-emits them, identical (a DUPLICATE's consumer and time may differ).
      record({ source_partition: 0, source_offset: 0 }),
      record({ source_partition: 1, source_offset: 0 }),
      record({ source_partition: 0, source_offset: 1, decision: 'DUPLICATE', remaining_quota: null, consumer_id: 'c-2' }),
      record({ source_partition: 2, source_offset: 0 }),
    ];
    expect(stream.map((r) => first(r))).toEqual([true, true, true, false, false, false, true]);
  });

  it('keeps separate passes apart', () => {
    const a = firstOfEachSource();
    const b = firstOfEachSource();
    expect(a(record({}))).toBe(true);
    expect(b(record({}))).toBe(true);
  });
});

describe('--user and --campaign', () => {
  const v2 = record({ user_id: 'u-1', campaign_id: 'CAMP-1' });
  const v1 = record({});
  it('match the version-2 fields', () => {
    expect(matches(v2, { user: 'u-1' })).toBe(true);
    expect(matches(v2, { campaign: 'CAMP-1', user: 'u-1' })).toBe(true);
    expect(matches(v2, { user: 'u-2' })).toBe(false);
    expect(matches(v2, { campaign: 'CAMP-2' })).toBe(false);
  });
  it('never match a version-1 record, which has neither', () => {
    expect(matches(v1, { user: 'u-1' })).toBe(false);
    expect(matches(v1, { campaign: 'CAMP-1' })).toBe(false);
    expect(matches(v1, {})).toBe(true);
  });
});

describe('audit tail --coupon reads one partition', () => {
  it("is the partition the audit publisher's producer (KafkaJS's default partitioner, keyed by coupon code) writes the coupon's records to", () => {
    const partitioner = Partitioners.DefaultPartitioner();
    for (const partitionCount of [1, 3, 12]) {
      const partitionMetadata = Array.from({ length: partitionCount }, (_, partitionId) => ({
        partitionId,
        partitionErrorCode: 0,
        leader: 0,
        replicas: [0],
        isr: [0],
      }));
      for (const coupon of ['ONE', 'SAVE10', 'CRASH-00042', 'é-coupon', '']) {
        const written = partitioner({ topic: 'audit', partitionMetadata, message: { key: coupon, value: null } });
        expect(auditPartitions(coupon, partitionCount)).toEqual([written]);
      }
    }
  });

  it('reads every partition without a coupon', () => {
    expect(auditPartitions(undefined, 3)).toEqual([0, 1, 2]);
  });
});
