/**
 * The decide step of a flush: a pure function from the state loaded for a batch to every decision and
 * the rows that change. No I/O, no clock (the decision time is handed in): the flush's load and write
 * steps surround it, and the unit tests call it directly.
 */
import type { RedemptionDecided } from '../schemas/types.js';
import { CouponState, type RedemptionRow } from './coupon-state.js';
import { auditRecordOf, decisionKey, duplicateRecordOf, knownDecision, priorState } from './decision-records.js';
import { decide, remainingQuota } from './rules.js';
import { type CouponDbRow, couponTermsOf } from './sql/rows.js';
import { type SourcedRequest, type StoredDecision } from './types.js';

/** What MySQL holds that the batch's decisions depend on, read at the start of its transaction. */
export interface LoadedState {
  /** The batch's coupons that exist (locked). */
  coupons: readonly CouponDbRow[];
  /** Decisions already stored for the batch's (coupon, request) pairs. */
  prior: readonly StoredDecision[];
  /** REDEEMED redemptions per (coupon, user) for the batch's redeeming users. */
  userCounts: readonly { couponCode: string; userId: string; redeemed: number }[];
  /** The redemptions the batch's REVERSE requests name. */
  redemptions: readonly RedemptionRow[];
}

export interface DecisionContext {
  decidedAt: number;
  consumerId: string;
}

export interface BatchDecisions {
  /** One audit record per input request, in input order. */
  records: RedemptionDecided[];
  /** Per record: true when it repeats a decision already stored for the same message (a redelivery). */
  reemitted: boolean[];
  /** The decisions this batch makes: to insert, and to cache once committed. */
  committed: StoredDecision[];
  /** The last state of every redemption the batch creates or changes. */
  redemptions: RedemptionRow[];
  /** The coupons whose redeemed count changed, with the new count and time. */
  coupons: CouponDbRow[];
}

/** Decides the batch's requests in order, each seeing the effects of those before it. */
export function decideBatch(requests: readonly SourcedRequest[], state: LoadedState, context: DecisionContext): BatchDecisions {
  const couponRows = new Map(state.coupons.map((c) => [c.code, c]));
  const coupons = new Map<string, CouponState>();
  for (const code of new Set(requests.map((r) => r.request.coupon_code))) {
    const row = couponRows.get(code);
    coupons.set(code, new CouponState(code, row ? couponTermsOf(row) : null, row?.redeemed_count ?? 0));
  }
  const campaignOf = (code: string) => couponRows.get(code)?.campaign_id ?? null;
  const prior = new Map<string, StoredDecision>();
  for (const stored of state.prior) {
    prior.set(decisionKey(stored.couponCode, stored.requestId), { ...stored, campaignId: stored.campaignId ?? campaignOf(stored.couponCode) });
    coupons.get(stored.couponCode)?.knowDecided(stored.requestId);
  }
  for (const c of state.userCounts) coupons.get(c.couponCode)?.knowUserCount(c.userId, c.redeemed);
  for (const row of state.redemptions) coupons.get(row.couponCode)?.knowRedemption(row);

  // Keyed only from the batch's first upstream retry of a request it decided (most batches have none),
  // so that a batch of new requests builds no key for it.
  let decidedHere: Map<string, StoredDecision> | null = null;
  const decisions: BatchDecisions = { records: [], reemitted: [], committed: [], redemptions: [], coupons: [] };
  for (const source of requests) {
    const { request } = source;
    const coupon = coupons.get(request.coupon_code)!;
    const before = priorState(knownDecision(prior, request.coupon_code, request.request_id), source, context.decidedAt, context.consumerId);
    decisions.reemitted.push(before.kind === 'redelivered');
    if (before.kind !== 'new') {
      decisions.records.push(before.record);
      continue;
    }
    const outcome = decide(coupon, request);
    if (outcome.decision === 'DUPLICATE') {
      // Decided earlier in this very batch (an upstream retry in the same flush).
      decidedHere ??= new Map(decisions.committed.map((d) => [decisionKey(d.couponCode, d.requestId), d]));
      const original = decidedHere.get(decisionKey(request.coupon_code, request.request_id))!;
      decisions.records.push(duplicateRecordOf(source, original, context.decidedAt, context.consumerId));
      continue;
    }
    if (outcome.decision === 'APPLIED') coupon.apply(outcome.effect);
    coupon.markDecided(request.request_id);
    const stored: StoredDecision = {
      couponCode: request.coupon_code,
      requestId: request.request_id,
      op: request.op,
      decision: outcome.decision,
      reason: outcome.decision === 'REJECTED' ? outcome.reason : null,
      remainingQuota: remainingQuota(coupon),
      sourceTopic: source.topic,
      sourcePartition: source.partition,
      sourceOffset: source.offset,
      decidedAt: context.decidedAt,
      consumerId: context.consumerId,
      campaignId: campaignOf(request.coupon_code),
    };
    decidedHere?.set(decisionKey(request.coupon_code, request.request_id), stored);
    decisions.committed.push(stored);
    decisions.records.push(auditRecordOf(stored, request));
  }
  for (const coupon of coupons.values()) {
    decisions.redemptions.push(...coupon.changedRedemptions());
    if (coupon.countChanged)
      decisions.coupons.push({ ...couponRows.get(coupon.code)!, redeemed_count: coupon.redeemedCount, updated_at: new Date(context.decidedAt) });
  }
  return decisions;
}
