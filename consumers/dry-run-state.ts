import type { RedemptionRow } from './coupon-state.js';
import type { LoadedState } from './decide-batch.js';
import { decisionKey } from './decision-records.js';
import { type SourcedRequest, type StoredDecision } from './types.js';

/**
 * What a dry run has decided so far. A dry run rolls every flush back, so without this each flush
 * would be decided against MySQL as it was before the run: a retry in a later flush of a request decided
 * in an earlier one was "applied" again, and quota used up earlier was still free, so a range of many
 * flushes under-counted duplicates and rejections. The dry run keeps its own decisions and effects here
 * and lays them over what MySQL says at the start of each flush, so it decides as the real run will.
 * Memory grows with the decisions of the run (a few hundred bytes each).
 */
export class DryRunState {
  private readonly decisions = new Map<string, StoredDecision>();
  private readonly redeemedCounts = new Map<string, number>();
  /** coupon → user → change of the user's REDEEMED rows made by the dry run */
  private readonly userDeltas = new Map<string, Map<string, number>>();
  /** coupon → request id → the redemption row as the dry run left it */
  private readonly redemptions = new Map<string, Map<string, RedemptionRow>>();

  /** Decisions the dry run made for these requests (they count as stored). */
  decisionFor(couponCode: string, requestId: string): StoredDecision | undefined {
    return this.decisions.get(decisionKey(couponCode, requestId));
  }

  /** The coupon's redeemed count as the dry run left it, if it changed it. */
  redeemedCount(couponCode: string): number | undefined {
    return this.redeemedCounts.get(couponCode);
  }

  /** The user's REDEEMED rows for the coupon: what MySQL counted, plus the dry run's changes. */
  userCount(couponCode: string, userId: string, inMysql: number): number {
    return inMysql + (this.userDeltas.get(couponCode)?.get(userId) ?? 0);
  }

  /** Users whose counts the dry run changed for this coupon (MySQL may have no row for them). */
  usersOf(couponCode: string): string[] {
    return [...(this.userDeltas.get(couponCode)?.keys() ?? [])];
  }

  /** The redemption row as the dry run left it (a copy: the ledger changes what it is given). */
  redemption(couponCode: string, requestId: string): RedemptionRow | undefined {
    const row = this.redemptions.get(couponCode)?.get(requestId);
    return row ? { ...row } : undefined;
  }

  /**
   * Takes in a flush that is about to be rolled back: its decisions, the coupons whose count it changed
   * and the redemption rows it created or changed. `knownBefore` holds, per coupon, the request ids of
   * the redemption rows the flush loaded (from MySQL or from this state) before deciding: a changed row
   * among them was REDEEMED before (only those can be refunded), any other is new.
   */
  record(
    committed: readonly StoredDecision[],
    coupons: readonly { code: string; redeemed_count: number }[],
    redemptions: readonly RedemptionRow[],
    knownBefore: ReadonlyMap<string, ReadonlySet<string>>,
  ): void {
    for (const d of committed) this.decisions.set(decisionKey(d.couponCode, d.requestId), d);
    for (const c of coupons) this.redeemedCounts.set(c.code, c.redeemed_count);
    for (const row of redemptions) {
      const before = knownBefore.get(row.couponCode)?.has(row.requestId) ? 1 : 0;
      const after = row.status === 'REDEEMED' ? 1 : 0;
      if (after !== before) {
        const deltas = this.userDeltas.get(row.couponCode) ?? new Map<string, number>();
        deltas.set(row.userId, (deltas.get(row.userId) ?? 0) + after - before);
        this.userDeltas.set(row.couponCode, deltas);
      }
      const rows = this.redemptions.get(row.couponCode) ?? new Map<string, RedemptionRow>();
      rows.set(row.requestId, { ...row });
      this.redemptions.set(row.couponCode, rows);
    }
  }

  /**
   * The state MySQL gave a flush, with this dry run's earlier decisions and effects laid over it, as the
   * real run would find it.
   */
  overlay(state: LoadedState, requests: readonly SourcedRequest[]): LoadedState {
    const coupons = state.coupons.map((c) => ({ ...c, redeemed_count: this.redeemedCount(c.code) ?? c.redeemed_count }));
    const prior = [...state.prior];
    const seen = new Set(prior.map((d) => decisionKey(d.couponCode, d.requestId)));
    for (const { request } of requests) {
      const stored = this.decisionFor(request.coupon_code, request.request_id);
      const key = decisionKey(request.coupon_code, request.request_id);
      if (stored && !seen.has(key)) {
        prior.push(stored);
        seen.add(key);
      }
    }
    const inMysql = new Map(state.userCounts.map((c) => [decisionKey(c.couponCode, c.userId), c.redeemed]));
    const existing = new Set(state.coupons.map((c) => c.code));
    const userCounts = new Map<string, { couponCode: string; userId: string; redeemed: number }>();
    for (const { request } of requests) {
      if (request.op !== 'REDEEM' || !existing.has(request.coupon_code)) continue;
      const key = decisionKey(request.coupon_code, request.user_id);
      userCounts.set(key, {
        couponCode: request.coupon_code,
        userId: request.user_id,
        redeemed: this.userCount(request.coupon_code, request.user_id, inMysql.get(key) ?? 0),
      });
    }
    const redemptions = new Map(state.redemptions.map((r) => [decisionKey(r.couponCode, r.requestId), r]));
    for (const { request } of requests) {
      if (request.op !== 'REVERSE' || !request.reverses_request_id) continue;
      const row = this.redemption(request.coupon_code, request.reverses_request_id);
      if (row) redemptions.set(decisionKey(row.couponCode, row.requestId), row);
    }
    return { coupons, prior, userCounts: [...userCounts.values()], redemptions: [...redemptions.values()] };
  }
}
