import { describe, expect, it } from 'vitest';

import { decideBatch, type LoadedState } from '../../consumers/decide-batch.js';
import type { CouponDbRow } from '../../consumers/sql/rows.js';
import type { StoredDecision } from '../../consumers/types.js';
import { avroType, readSchemaText } from '../../schemas/avro.js';
import type { RedemptionRequested } from '../../schemas/types.js';

// The audit record's version 2 fields: the request's own fields, the coupon's campaign, and for a
// DUPLICATE the original outcome of its request id (the checkout's redeem() answers a retry with it).

const T0 = Date.parse('2026-11-24T00:00:00Z');
const coupon: CouponDbRow = {
  code: 'C',
  campaign_id: 'spring',
  quota: 1,
  redeemed_count: 0,
  per_user_limit: 1,
  valid_from: new Date(T0),
  valid_until: new Date(T0 + 1000),
  updated_at: new Date(T0),
};

function redeem(id: string, user = 'u1'): RedemptionRequested {
  return {
    request_id: id,
    coupon_code: 'C',
    user_id: user,
    order_id: `o-${id}`,
    op: 'REDEEM',
    reverses_request_id: null,
    amount_cents: 1250,
    currency: 'EUR',
    occurred_at: new Date(T0 + 10),
    source: 'test',
  };
}

function run(events: RedemptionRequested[], state: Partial<LoadedState> = {}, firstOffset = 0) {
  const loaded: LoadedState = { coupons: [coupon], prior: [], userCounts: [], redemptions: [], ...state };
  return decideBatch(
    events.map((request, i) => ({ request, topic: 't', partition: 0, offset: firstOffset + i })),
    loaded,
    { decidedAt: T0 + 5000, consumerId: 'test' },
  );
}

describe('audit records, schema version 2', () => {
  it("carry the request's user, order, amount, currency, event time and the coupon's campaign", () => {
    const [record] = run([redeem('a')]).records;
    expect(record).toMatchObject({
      decision: 'APPLIED',
      user_id: 'u1',
      order_id: 'o-a',
      campaign_id: 'spring',
      amount_cents: 1250,
      currency: 'EUR',
      occurred_at: new Date(T0 + 10),
      original_decision: null,
      original_reason: null,
    });
  });

  it('an unknown coupon has no campaign', () => {
    expect(run([redeem('a')], { coupons: [] }).records[0]).toMatchObject({ reason: 'NOT_FOUND', campaign_id: null, user_id: 'u1' });
  });

  it('a DUPLICATE in the same batch carries the original outcome, APPLIED or REJECTED with its reason', () => {
    const { records } = run([redeem('a'), redeem('b', 'u2'), redeem('a'), redeem('b', 'u2')]);
    expect(records.map((r) => [r.decision, r.reason, r.original_decision, r.original_reason])).toEqual([
      ['APPLIED', null, null, null],
      ['REJECTED', 'EXHAUSTED', null, null],
      ['DUPLICATE', null, 'APPLIED', null],
      ['DUPLICATE', null, 'REJECTED', 'EXHAUSTED'],
    ]);
    expect(records[2]).toMatchObject({ source_offset: 2, campaign_id: 'spring', order_id: 'o-a' });
  });

  it('a DUPLICATE finds its original decided after an earlier retry in the same batch', () => {
    const { records } = run([redeem('a'), redeem('a'), redeem('c', 'u3'), redeem('c', 'u3')], { coupons: [{ ...coupon, quota: 5 }] });
    expect(records.map((r) => [r.request_id, r.decision, r.original_decision])).toEqual([
      ['a', 'APPLIED', null],
      ['a', 'DUPLICATE', 'APPLIED'],
      ['c', 'APPLIED', null],
      ['c', 'DUPLICATE', 'APPLIED'],
    ]);
    expect(records[3]).toMatchObject({ source_offset: 3, user_id: 'u3' });
  });

  it('a DUPLICATE of a decision stored earlier carries its outcome; a redelivery re-emits the same record', () => {
    const stored: StoredDecision = {
      couponCode: 'C',
      requestId: 'a',
      op: 'REDEEM',
      decision: 'REJECTED',
      reason: 'USER_LIMIT',
      remainingQuota: 1,
      sourceTopic: 't',
      sourcePartition: 0,
      sourceOffset: 7,
      decidedAt: T0,
      consumerId: 'earlier',
    };
    const { records } = run([redeem('a'), redeem('a')], { prior: [stored] }, 7);
    expect(records[0]).toMatchObject({ decision: 'REJECTED', reason: 'USER_LIMIT', source_offset: 7, campaign_id: 'spring', user_id: 'u1' });
    expect(records[1]).toMatchObject({ decision: 'DUPLICATE', original_decision: 'REJECTED', original_reason: 'USER_LIMIT', source_offset: 8 });
  });

  it('a reader of version 1 reads version 2 records, and version 2 reads version 1 records with nulls', () => {
    const v2 = avroType(readSchemaText('decided'));
    const v1Schema = JSON.parse(readSchemaText('decided')) as { fields: { name: string }[] };
    v1Schema.fields = v1Schema.fields.slice(0, v1Schema.fields.findIndex((f) => f.name === 'consumer_id') + 1);
    const v1 = avroType(JSON.stringify(v1Schema));
    const record = run([redeem('a'), redeem('a')]).records[1]!;
    const asV1 = v1.fromBuffer(v2.toBuffer(record), v1.createResolver(v2)) as Record<string, unknown>;
    expect(asV1).toMatchObject({ request_id: 'a', decision: 'DUPLICATE' });
    expect(asV1).not.toHaveProperty('original_decision');
    const asV2 = v2.fromBuffer(v1.toBuffer(asV1), v2.createResolver(v1)) as Record<string, unknown>;
    expect(asV2).toMatchObject({ decision: 'DUPLICATE', original_decision: null, user_id: null, occurred_at: null });
  });
});
