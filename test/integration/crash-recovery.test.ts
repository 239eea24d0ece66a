import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateCoupons } from '../../lib/coupon-catalog.js';
import { upsertCoupons } from '../../lib/coupon-catalog.js';
import { FAULT_POINTS, type FaultPoint } from '../../lib/faults.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import { auditProblems, IsolatedPipeline, verifyEqual } from './helpers.js';

const REQUESTS = 100_000;
const CRASHES_PER_POINT = 2;

// Short sessions so that the group notices a killed member in seconds, not the production 45 s.
const FAST_GROUP = { SESSION_TIMEOUT_MS: '6000', HEARTBEAT_INTERVAL_MS: '1000', REBALANCE_TIMEOUT_MS: '10000', FLUSH_MAX_MESSAGES: '1000' };

describe('crashes at every injected point lose nothing and apply nothing twice', () => {
  const p = new IsolatedPipeline(FAST_GROUP);
  beforeAll(async () => {
    await p.setUp();
    const coupons = generateCoupons({
      count: 300,
      prefix: 'CRASH',
      campaigns: 3,
      quota: 250,
      perUserLimit: 3,
      validFrom: new Date('2026-01-01T00:00:00Z'),
      validUntil: new Date('2027-01-01T00:00:00Z'),
    });
    await upsertCoupons(p.rt.knex(), coupons);
    const requests = simulateCheckout({ ...DEFAULT_SIMULATION, count: REQUESTS, couponCodes: coupons.map((c) => c.code), users: 2000, seed: 99 });
    await p.produce([...requests]);
  });
  afterAll(() => p.cleanup());

  // Nine consumer runs, each joining a group whose last member was killed: about 100 s on a quiet host.
  it(`kills the consumer ${CRASHES_PER_POINT} times at each point over ${REQUESTS} requests; verify is equal`, { timeout: 300_000 }, async () => {
    const crashes: Record<FaultPoint, number> = Object.fromEntries(FAULT_POINTS.map((f) => [f, 0])) as Record<FaultPoint, number>;
    for (let round = 0; round < CRASHES_PER_POINT; round++) {
      for (const point of FAULT_POINTS) {
        const run = await p.cli(['consume', '--exit-when-idle', '1'], { REDEEM_FAULTS: `${point}:0.3` });
        // SIGKILL shows as no exit code; the line the process wrote just before it killed itself says where.
        expect(run.code, run.stderr).toBeNull();
        for (const [, struck] of run.stderr.matchAll(/^fault injected: (\S+)$/gm)) crashes[struck as FaultPoint] += 1;
      }
    }
    const last = await p.cli(['consume', '--exit-when-idle', '1']);
    expect(last.code, last.stderr).toBe(0);
    expect(crashes).toEqual(Object.fromEntries(FAULT_POINTS.map((f) => [f, CRASHES_PER_POINT])));

    const { equal, report } = await verifyEqual(p);
    expect(equal, report).toBe(true);
    const ends = await p.endOffsets(p.config.redemptionTopic);
    const records = await p.auditRecords(REQUESTS);
    expect(auditProblems(records, ends)).toEqual([]);
    // The crashes after the audit publish, before the offset commit, had their messages delivered again:
    // their records were published twice.
    expect(records.length).toBeGreaterThan(REQUESTS);
  });
});
