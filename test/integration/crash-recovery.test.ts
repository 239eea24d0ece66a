import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateCoupons } from '../../lib/coupon-catalog.js';
import { upsertCoupons } from '../../lib/coupon-catalog.js';
import { FAULT_POINTS, type FaultPoint } from '../../lib/faults.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import { auditProblems, IsolatedPipeline, verifyEqual } from './helpers.js';

// Sized so that every crash run strikes before the topic runs out: each run rolls its fault at every
// flush (at most FLUSH_MAX_MESSAGES) with probability 0.3, and four runs need more than 50 flushes with a
// probability of 3e-5. Coupons and users scale with it, so the decisions are as they were at 100,000
// requests over 300 coupons: 52% rejected as exhausted (34 of the 150 coupons), 43% applied, 3%
// duplicates (55%, 40%, 3% then).
const REQUESTS = 50_000;

// Short sessions so that the group notices a killed member in seconds, not the production 45 s.
const FAST_GROUP = { SESSION_TIMEOUT_MS: '6000', HEARTBEAT_INTERVAL_MS: '1000', REBALANCE_TIMEOUT_MS: '10000', FLUSH_MAX_MESSAGES: '1000' };

describe('crashes at every injected point lose nothing and apply nothing twice', () => {
  const p = new IsolatedPipeline(FAST_GROUP);
  beforeAll(async () => {
    await p.setUp();
    const coupons = generateCoupons({
      count: 150,
      prefix: 'CRASH',
      campaigns: 3,
      quota: 250,
      perUserLimit: 3,
      validFrom: new Date('2026-01-01T00:00:00Z'),
      validUntil: new Date('2027-01-01T00:00:00Z'),
    });
    await upsertCoupons(p.rt.knex(), coupons);
    const requests = simulateCheckout({ ...DEFAULT_SIMULATION, count: REQUESTS, couponCodes: coupons.map((c) => c.code), users: 1000, seed: 99 });
    await p.produce([...requests]);
  });
  afterAll(() => p.cleanup());

  // One crash per point, in a chain: each run after the first joins a group whose last member was just
  // killed at the point before, and the last run recovers from the crash after the audit publish. A second
  // round (nine runs, as before) repeated the same four crashes at about 7 s a run; crash-points.test.ts
  // checks a crash in the first flush on either side of the MySQL commit exactly.
  it(`kills the consumer once at each point over ${REQUESTS} requests; verify is equal`, { timeout: 300_000 }, async () => {
    const crashes: Record<FaultPoint, number> = Object.fromEntries(FAULT_POINTS.map((f) => [f, 0])) as Record<FaultPoint, number>;
    for (const point of FAULT_POINTS) {
      const run = await p.cli(['consume', '--exit-when-idle', '1'], { REDEEM_FAULTS: `${point}:0.3` });
      // SIGKILL shows as no exit code; the line the process wrote just before it killed itself says where.
      expect(run.code, run.stderr).toBeNull();
      for (const [, struck] of run.stderr.matchAll(/^fault injected: (\S+)$/gm)) crashes[struck as FaultPoint] += 1;
    }
    const last = await p.cli(['consume', '--exit-when-idle', '1']);
    expect(last.code, last.stderr).toBe(0);
    expect(crashes).toEqual(Object.fromEntries(FAULT_POINTS.map((f) => [f, 1])));

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
