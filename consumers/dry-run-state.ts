import type { CouponLedger, RedemptionRow } from './coupon-ledger.js';
import { decisionKey, type StoredDecision } from './types.js';

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
   * Takes in a flush that is about to be rolled back: its decisions, and per coupon the count and the
   * redemption rows it changed. `knownBefore` holds, per coupon, the request ids of the redemption rows
   * the flush loaded (from MySQL or from this state) before deciding: a changed row among them was
   * REDEEMED before (only those can be refunded), any other is new.
   */
  record(committed: readonly StoredDecision[], ledgers: Iterable<CouponLedger>, knownBefore: ReadonlyMap<string, ReadonlySet<string>>): void {
    for (const d of committed) this.decisions.set(decisionKey(d.couponCode, d.requestId), d);
    for (const ledger of ledgers) {
      if (ledger.countChanged) this.redeemedCounts.set(ledger.code, ledger.redeemedCount);
      for (const row of ledger.changedRedemptions()) {
        const before = knownBefore.get(ledger.code)?.has(row.requestId) ? 1 : 0;
        const after = row.status === 'REDEEMED' ? 1 : 0;
        if (after !== before) {
          const deltas = this.userDeltas.get(ledger.code) ?? new Map<string, number>();
          deltas.set(row.userId, (deltas.get(row.userId) ?? 0) + after - before);
          this.userDeltas.set(ledger.code, deltas);
        }
        const rows = this.redemptions.get(ledger.code) ?? new Map<string, RedemptionRow>();
        rows.set(row.requestId, { ...row });
        this.redemptions.set(ledger.code, rows);
      }
    }
  }
}
