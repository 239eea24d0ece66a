import { describe, expect, it } from 'vitest';

import type { RedemptionDecided, RedemptionRequested } from '../../schemas/types.js';
import { AuditCheck } from '../../verify/audit-check.js';
import { type ReferenceDecision, ReferenceLedger } from '../../verify/reference-ledger.js';
import { formatVerifyReport, type MysqlRedemption, stateDifferences } from '../../verify/verify.js';

/**
 * The oracle shown failing: verify's comparisons fed a correct state, then the same state tampered with
 * in each way verify exists to catch. Every tampering is exactly one difference, named.
 */

const T0 = Date.parse('2026-11-24T00:00:00Z');
const coupons = [
  { code: 'A', quota: 2, per_user_limit: 2, valid_from: new Date(T0 - 1000), valid_until: new Date(T0 + 1000) },
  { code: 'B', quota: 5, per_user_limit: 1, valid_from: new Date(T0 - 1000), valid_until: new Date(T0 + 1000) },
];

function req(id: string, coupon: string, user: string, extra: Partial<RedemptionRequested> = {}): RedemptionRequested {
  return {
    request_id: id,
    coupon_code: coupon,
    user_id: user,
    order_id: `o-${id}`,
    op: 'REDEEM',
    reverses_request_id: null,
    amount_cents: 500,
    currency: 'EUR',
    occurred_at: new Date(T0),
    source: 'test',
    ...extra,
  };
}

/** The requests topic, in order (one partition): applied, refunded, retried, exhausted, rejected. */
const topic: RedemptionRequested[] = [
  req('r1', 'A', 'u1'),
  req('r2', 'A', 'u2'),
  req('r2', 'A', 'u2'), // an upstream retry: DUPLICATE
  req('r3', 'A', 'u3'), // EXHAUSTED
  req('r4', 'B', 'u1'),
  req('r5', 'B', 'u1'), // USER_LIMIT
  req('x1', 'B', 'u1', { op: 'REVERSE', reverses_request_id: 'r4' }), // refund of r4
];

function decide(): { reference: ReferenceLedger; decisions: ReferenceDecision[] } {
  const reference = new ReferenceLedger(coupons);
  const decisions = topic.map((r) => reference.apply(r));
  return { reference, decisions };
}

/** MySQL as the pipeline leaves it for `topic`. */
function correctMysql(): { counts: Map<string, number>; rows: MysqlRedemption[] } {
  const row = (id: string, coupon: string, user: string, status: string): MysqlRedemption => ({
    coupon_code: coupon,
    request_id: id,
    user_id: user,
    order_id: `o-${id}`,
    amount_cents: '500',
    status,
  });
  return {
    counts: new Map([
      ['A', 2],
      ['B', 0],
    ]),
    rows: [row('r1', 'A', 'u1', 'REDEEMED'), row('r2', 'A', 'u2', 'REDEEMED'), row('r4', 'B', 'u1', 'REVERSED')],
  };
}

describe('verify compares MySQL with the reference', () => {
  it('finds nothing in the state the pipeline leaves', () => {
    const { reference, decisions } = decide();
    expect(decisions.map((d) => (d.reason ? `${d.decision}:${d.reason}` : d.decision))).toEqual([
      'APPLIED',
      'APPLIED',
      'DUPLICATE',
      'REJECTED:EXHAUSTED',
      'APPLIED',
      'REJECTED:USER_LIMIT',
      'APPLIED',
    ]);
    const { counts, rows } = correctMysql();
    expect(stateDifferences(reference, counts, rows)).toEqual([]);
  });

  it('a missing redemption', () => {
    const { counts, rows } = correctMysql();
    expect(stateDifferences(decide().reference, counts, rows.slice(1))).toEqual(['redemption ["A","r1"]: missing from MySQL (expected REDEEMED)']);
  });

  it('an extra redemption', () => {
    const { counts, rows } = correctMysql();
    const extra = { ...rows[0]!, request_id: 'r3', user_id: 'u3', order_id: 'o-r3' };
    expect(stateDifferences(decide().reference, counts, [...rows, extra])).toEqual(['redemption ["A","r3"]: in MySQL (REDEEMED) but no request applies it']);
  });

  it('a redeemed count off by one', () => {
    const { counts, rows } = correctMysql();
    counts.set('B', 1);
    expect(stateDifferences(decide().reference, counts, rows)).toEqual(['coupon B: redeemed_count is 1, expected 0']);
  });

  it('a wrong status', () => {
    const { counts, rows } = correctMysql();
    rows[2] = { ...rows[2]!, status: 'REDEEMED' };
    expect(stateDifferences(decide().reference, counts, rows)).toEqual(['redemption ["B","r4"]: status is REDEEMED, expected REVERSED']);
  });

  it('a wrong user, order or amount', () => {
    const { counts, rows } = correctMysql();
    rows[0] = { ...rows[0]!, user_id: 'u9', amount_cents: 501 };
    expect(stateDifferences(decide().reference, counts, rows)).toEqual([
      'redemption ["A","r1"]: user_id is u9, expected u1',
      'redemption ["A","r1"]: amount_cents is 501, expected 500',
    ]);
  });
});

describe('verify compares the audit stream with the reference', () => {
  /** The audit records the pipeline publishes for `topic` (message i at offset i of partition 0). */
  function correctAudit(decisions: readonly ReferenceDecision[]): RedemptionDecided[] {
    return decisions.map((d, offset) => ({
      request_id: d.request_id,
      coupon_code: d.coupon_code,
      op: topic[offset]!.op,
      decision: d.decision,
      reason: d.reason,
      remaining_quota: d.decision === 'DUPLICATE' ? null : 1,
      source_partition: 0,
      source_offset: offset,
      decided_at: new Date(T0 + 10_000),
      consumer_id: 'c1',
    }));
  }

  function check(records: readonly RedemptionDecided[], retainedSince: number | null = null): { check: AuditCheck; differences: string[] } {
    const { decisions } = decide();
    const c = new AuditCheck();
    decisions.forEach((d, offset) => c.expect(0, offset, d, T0 + offset));
    for (const r of records) c.record(r);
    return { check: c, differences: c.differences(retainedSince) };
  }

  it('finds nothing in the records the pipeline publishes, and takes repeats after a crash for what they are', () => {
    const audit = correctAudit(decide().decisions);
    expect(check(audit).differences).toEqual([]);
    // A redelivery re-emits the stored decision unchanged; a DUPLICATE is answered again, at another time.
    const reemitted = [audit[0]!, { ...audit[2]!, decided_at: new Date(T0 + 20_000), consumer_id: 'c2' }];
    const repeated = check([...audit, ...reemitted]);
    expect(repeated.differences).toEqual([]);
    expect(repeated.check.repeats).toBe(2);
    expect(repeated.check.records).toBe(9);
  });

  it('a missing audit record', () => {
    const audit = correctAudit(decide().decisions);
    expect(check(audit.filter((r) => r.source_offset !== 3)).differences).toEqual([
      'audit: message 0/3 (coupon "A", request "r3") has no audit record (expected REJECTED EXHAUSTED)',
    ]);
  });

  it('a doubled audit record: the same message decided a second time', () => {
    const audit = correctAudit(decide().decisions);
    const again = { ...audit[1]!, decided_at: new Date(T0 + 30_000), consumer_id: 'c2', remaining_quota: 0 };
    expect(check([...audit, again]).differences).toEqual([
      'audit: message 0/1 (coupon "A", request "r2") has records that differ, decided more than once: APPLIED at 2026-11-24T00:00:10.000Z by c1 and APPLIED at 2026-11-24T00:00:30.000Z by c2',
    ]);
  });

  it('a doubled application: the upstream retry recorded APPLIED instead of DUPLICATE', () => {
    const audit = correctAudit(decide().decisions);
    audit[2] = { ...audit[1]!, source_offset: 2 };
    expect(check(audit).differences).toEqual(['audit: message 0/2: recorded APPLIED, expected DUPLICATE']);
  });

  it('a record for a message that is no request to decide', () => {
    const audit = correctAudit(decide().decisions);
    expect(check([...audit, { ...audit[0]!, source_offset: 99 }]).differences).toEqual([
      'audit: message 0/99 is no request to decide, yet has a record (APPLIED, coupon "A", request "r1")',
    ]);
  });

  it('does not report records that retention removed, only those after the oldest record left', () => {
    const audit = correctAudit(decide().decisions);
    const kept = audit.filter((r) => r.source_offset >= 4);
    // Messages 0-3 were produced at T0 + 0..3, before the oldest audit record left (T0 + 3).
    expect(check(kept, T0 + 3).differences).toEqual([]);
    expect(check(kept, T0 + 2).differences).toEqual(['audit: message 0/3 (coupon "A", request "r3") has no audit record (expected REJECTED EXHAUSTED)']);
  });

  it('says DIFFERENT with every difference, EQUAL only without any', () => {
    const base = { messages: 7, decided: 7, unprocessable: 0, coupons: 2, redemptions: 3, auditRecords: 7, auditRepeats: 0 };
    expect(formatVerifyReport({ ...base, equal: true, differences: [] })).toMatch(/\nEQUAL: /);
    const report = formatVerifyReport({
      ...base,
      equal: false,
      differences: ['coupon B: redeemed_count is 1, expected 0', 'audit: message 0/3 has no audit record'],
    });
    expect(report).toMatch(/\nDIFFERENT: 2 difference\(s\)\ncoupon B: redeemed_count is 1, expected 0\naudit: message 0\/3 has no audit record$/);
  });
});
