import { describe, expect, it } from 'vitest';

import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import { requestProblems } from '../../schemas/request-validation.js';

const codes = Array.from({ length: 50 }, (_, i) => `C${i}`);

describe('checkout simulator', () => {
  it('is repeatable for a seed and differs across seeds', () => {
    const a = [...simulateCheckout({ ...DEFAULT_SIMULATION, count: 500, couponCodes: codes, seed: 7 })];
    const b = [...simulateCheckout({ ...DEFAULT_SIMULATION, count: 500, couponCodes: codes, seed: 7 })];
    const c = [...simulateCheckout({ ...DEFAULT_SIMULATION, count: 500, couponCodes: codes, seed: 8 })];
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('mixes retries, refunds and hot coupons, all valid requests', () => {
    const requests = [...simulateCheckout({ ...DEFAULT_SIMULATION, count: 20000, couponCodes: codes, retryShare: 0.05, refundShare: 0.05 })];
    const ids = new Set(requests.map((r) => r.request_id));
    const retries = requests.length - ids.size;
    const refunds = requests.filter((r) => r.op === 'REVERSE').length;
    expect(retries / requests.length).toBeGreaterThan(0.03);
    expect(refunds / requests.length).toBeGreaterThan(0.03);
    const hottest = requests.filter((r) => r.coupon_code === 'C0').length;
    const coldest = requests.filter((r) => r.coupon_code === 'C49').length;
    expect(hottest).toBeGreaterThan(coldest * 10);
    expect(requests.flatMap(requestProblems)).toEqual([]);
  });
});
