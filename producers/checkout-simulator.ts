/**
 * A simulated checkout for the bench, the demo and `redeem produce --generate`: a seeded, deterministic
 * stream of redemptions over hot and cold coupons, with upstream retries, refunds and unknown coupons.
 */
import type { RedemptionRequested } from '../schemas/types.js';

export interface SimulationOptions {
  /** How many messages to emit, retries and refunds included. */
  count: number;
  /** Coupon codes to redeem, hottest first. */
  couponCodes: readonly string[];
  /** Zipf exponent of coupon popularity: 0 is uniform, about 1 is a few very hot coupons. */
  skew: number;
  /** Share of messages that repeat an earlier request (same request_id), as a checkout retry does. */
  retryShare: number;
  /** Share of messages that refund an earlier redemption. */
  refundShare: number;
  /** Share of redemptions that name a coupon that does not exist. */
  unknownCouponShare: number;
  users: number;
  seed: number;
  /** occurred_at of the first request; later ones follow `stepMs` apart. */
  startAt: Date;
  stepMs: number;
  source: string;
}

export const DEFAULT_SIMULATION: Omit<SimulationOptions, 'count' | 'couponCodes'> = {
  skew: 1.0,
  retryShare: 0.03,
  refundShare: 0.02,
  unknownCouponShare: 0.002,
  users: 5000,
  seed: 42,
  startAt: new Date('2026-11-24T00:00:00Z'),
  stepMs: 1,
  source: 'checkout-simulator',
};

/** mulberry32: a small, fast PRNG, so a seed gives the same run on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function zipfSampler(n: number, s: number, random: () => number): () => number {
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    total += 1 / Math.pow(k + 1, s);
    cumulative[k] = total;
  }
  return () => {
    const target = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid]! < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/**
 * A checkout burst, deterministic for a seed: redemptions over hot and cold coupons, upstream retries of
 * earlier requests, refunds of earlier redemptions (some of which were never applied), and a few
 * requests for coupons that do not exist.
 */
export function* simulateCheckout(o: SimulationOptions): Generator<RedemptionRequested> {
  if (o.couponCodes.length === 0) throw new Error('the simulation needs at least one coupon code');
  const random = seededRandom(o.seed);
  const pickCoupon = zipfSampler(o.couponCodes.length, o.skew, random);
  const recent: RedemptionRequested[] = [];
  const redeems: RedemptionRequested[] = [];
  const RECENT = 1000;
  for (let i = 0; i < o.count; i++) {
    const occurred_at = new Date(o.startAt.getTime() + i * o.stepMs);
    const roll = random();
    if (roll < o.retryShare && recent.length > 0) {
      yield recent[Math.floor(random() * recent.length)]!;
      continue;
    }
    let request: RedemptionRequested;
    if (roll < o.retryShare + o.refundShare && redeems.length > 0) {
      const target = redeems[Math.floor(random() * redeems.length)]!;
      const unknownTarget = random() < 0.1;
      request = {
        request_id: `rq-${o.seed}-${i}`,
        coupon_code: target.coupon_code,
        user_id: target.user_id,
        order_id: target.order_id,
        op: 'REVERSE',
        reverses_request_id: unknownTarget ? `rq-${o.seed}-unknown-${i}` : target.request_id,
        amount_cents: target.amount_cents,
        currency: 'EUR',
        occurred_at,
        source: o.source,
      };
    } else {
      const unknown = random() < o.unknownCouponShare;
      request = {
        request_id: `rq-${o.seed}-${i}`,
        coupon_code: unknown ? `NOSUCH-${Math.floor(random() * 100)}` : o.couponCodes[pickCoupon()]!,
        user_id: `user-${Math.floor(random() * o.users)}`,
        order_id: `order-${o.seed}-${i}`,
        op: 'REDEEM',
        reverses_request_id: null,
        amount_cents: 500 + Math.floor(random() * 9500),
        currency: 'EUR',
        occurred_at,
        source: o.source,
      };
      redeems.push(request);
      if (redeems.length > RECENT) redeems.splice(0, redeems.length - RECENT);
    }
    recent.push(request);
    if (recent.length > RECENT) recent.shift();
    yield request;
  }
}
