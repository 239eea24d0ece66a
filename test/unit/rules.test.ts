import { describe, expect, it } from 'vitest';
import type { RedemptionRow } from '../../consumers/coupon-ledger.js';
import { decideBatch, type BatchDecisions, type LoadedState } from '../../consumers/decide-batch.js';
import type { CouponDbRow } from '../../consumers/sql/rows.js';
import type { StoredDecision } from '../../consumers/types.js';
import type { RedemptionRequested } from '../../schemas/types.js';

// The flush's decide step, called directly on loaded state: no MySQL, no Kafka.

const T0 = Date.parse('2026-11-24T00:00:00Z');
const terms = { quota: 2, per_user_limit: 1, valid_from: new Date(T0), valid_until: new Date(T0 + 1000) };

function coupon(overrides: Partial<CouponDbRow> = {}): CouponDbRow {
  return { code: 'C', campaign_id: 'camp', redeemed_count: 0, updated_at: new Date(T0), ...terms, ...overrides };
}

function redeem(id: string, user = 'u1', at = T0 + 10): RedemptionRequested {
  return { request_id: id, coupon_code: 'C', user_id: user, order_id: `o-${id}`, op: 'REDEEM', reverses_request_id: null, amount_cents: 100, currency: 'EUR', occurred_at: new Date(at), source: 'test' };
}

function reverse(id: string, target: string, at = T0 + 20): RedemptionRequested {
  return { ...redeem(id, 'u1', at), op: 'REVERSE', reverses_request_id: target };
}

/** Decides the events as one batch, each at offset = its index; returns "DECISION[:REASON]" per event. */
function run(events: RedemptionRequested[], state: Partial<LoadedState> = {}): { outcomes: string[]; decided: BatchDecisions } {
  const loaded: LoadedState = { coupons: [coupon()], prior: [], userCounts: [], redemptions: [], ...state };
  const decided = decideBatch(
    events.map((request, offset) => ({ request, topic: 't', partition: 0, offset })),
    loaded,
    { decidedAt: T0 + 5000, consumerId: 'test' },
  );
  return { outcomes: decided.records.map((r) => (r.reason ? `${r.decision}:${r.reason}` : r.decision)), decided };
}

const count = (decided: BatchDecisions) => decided.coupons.find((c) => c.code === 'C')?.redeemed_count;

describe('coupon rules, as the flush decides a batch', () => {
  it('applies a valid redemption, counts it and writes its row and decision', () => {
    const { outcomes, decided } = run([redeem('a')]);
    expect(outcomes).toEqual(['APPLIED']);
    expect(count(decided)).toBe(1);
    expect(decided.records[0]!.remaining_quota).toBe(1);
    expect(decided.redemptions).toMatchObject([{ requestId: 'a', status: 'REDEEMED', userId: 'u1' }]);
    expect(decided.committed).toMatchObject([{ requestId: 'a', decision: 'APPLIED', sourceOffset: 0, consumerId: 'test' }]);
  });

  it('rejects an unknown coupon with NOT_FOUND and reports no remaining quota', () => {
    const { outcomes, decided } = run([redeem('a')], { coupons: [] });
    expect(outcomes).toEqual(['REJECTED:NOT_FOUND']);
    expect(decided.records[0]!.remaining_quota).toBeNull();
    expect(decided.coupons).toEqual([]);
  });

  it('uses the event time: before valid_from is NOT_YET_VALID, at valid_until is EXPIRED', () => {
    expect(run([redeem('a', 'u1', T0 - 1), redeem('b', 'u2', T0 + 1000), redeem('c', 'u3', T0)]).outcomes).toEqual([
      'REJECTED:NOT_YET_VALID',
      'REJECTED:EXPIRED',
      'APPLIED',
    ]);
  });

  it('rejects EXHAUSTED once the quota is used, and checks it before the per-user limit', () => {
    expect(run([redeem('a', 'u1'), redeem('b', 'u2'), redeem('c', 'u1')]).outcomes).toEqual(['APPLIED', 'APPLIED', 'REJECTED:EXHAUSTED']);
  });

  it('rejects USER_LIMIT when this user already holds per_user_limit redemptions', () => {
    expect(run([redeem('a', 'u1'), redeem('b', 'u1'), redeem('c', 'u2')], { coupons: [coupon({ quota: 10 })] }).outcomes).toEqual(['APPLIED', 'REJECTED:USER_LIMIT', 'APPLIED']);
  });

  it('counts what MySQL already holds for the user', () => {
    const state = { coupons: [coupon({ quota: 10, redeemed_count: 3 })], userCounts: [{ couponCode: 'C', userId: 'u1', redeemed: 1 }] };
    expect(run([redeem('a', 'u1')], state).outcomes).toEqual(['REJECTED:USER_LIMIT']);
  });

  it('a repeated request is a DUPLICATE with no effect, whatever it was decided', () => {
    const { outcomes, decided } = run([redeem('a'), redeem('a'), redeem('x', 'u1', T0 - 5), redeem('x', 'u1', T0 + 5)]);
    expect(outcomes).toEqual(['APPLIED', 'DUPLICATE', 'REJECTED:NOT_YET_VALID', 'DUPLICATE']);
    expect(count(decided)).toBe(1);
    expect(decided.committed.map((d) => d.requestId)).toEqual(['a', 'x']);
  });

  it('a decision already stored re-emits its record for the same message and answers DUPLICATE for another', () => {
    const stored: StoredDecision = {
      couponCode: 'C', requestId: 'a', op: 'REDEEM', decision: 'APPLIED', reason: null, remainingQuota: 1,
      sourceTopic: 't', sourcePartition: 0, sourceOffset: 0, decidedAt: T0, consumerId: 'earlier',
    };
    const { outcomes, decided } = run([redeem('a'), redeem('a')], { prior: [stored], coupons: [coupon({ redeemed_count: 1 })] });
    expect(outcomes).toEqual(['APPLIED', 'DUPLICATE']);
    expect(decided.reemitted).toEqual([true, false]);
    expect(decided.records[0]).toMatchObject({ consumer_id: 'earlier', remaining_quota: 1 });
    expect(decided.committed).toEqual([]);
    expect(decided.coupons).toEqual([]);
  });

  it('a REVERSE refunds a redemption once: the row becomes REVERSED and the count drops', () => {
    const { outcomes, decided } = run([redeem('a'), reverse('r1', 'a'), reverse('r2', 'a')]);
    expect(outcomes).toEqual(['APPLIED', 'APPLIED', 'REJECTED:NOT_REDEEMED']);
    expect(count(decided)).toBe(0);
    expect(decided.redemptions).toMatchObject([{ requestId: 'a', status: 'REVERSED', reversedByRequestId: 'r1' }]);
  });

  it('a REVERSE of a redemption that never applied is NOT_REDEEMED', () => {
    expect(run([reverse('r1', 'nope')]).outcomes).toEqual(['REJECTED:NOT_REDEEMED']);
  });

  it('a refund frees quota and the user limit for later redemptions, in event order', () => {
    expect(run([redeem('a', 'u1'), redeem('b', 'u2'), reverse('r', 'a'), redeem('c', 'u1')], { coupons: [coupon({ quota: 1 })] }).outcomes).toEqual([
      'APPLIED',
      'REJECTED:EXHAUSTED',
      'APPLIED',
      'APPLIED',
    ]);
  });

  it('reverses a redemption loaded from MySQL', () => {
    const old: RedemptionRow = { couponCode: 'C', requestId: 'old', userId: 'u9', orderId: 'o', amountCents: 5, currency: 'EUR', status: 'REDEEMED', createdAt: new Date(T0), reversedAt: null, reversedByRequestId: null };
    const { outcomes, decided } = run([reverse('r', 'old'), redeem('again', 'u9')], {
      coupons: [coupon({ redeemed_count: 1 })],
      userCounts: [{ couponCode: 'C', userId: 'u9', redeemed: 1 }],
      redemptions: [old],
    });
    // The refund frees u9's one allowed redemption.
    expect(outcomes).toEqual(['APPLIED', 'APPLIED']);
    expect(decided.redemptions).toMatchObject([
      { requestId: 'old', status: 'REVERSED', orderId: 'o' },
      { requestId: 'again', status: 'REDEEMED' },
    ]);
  });
});
