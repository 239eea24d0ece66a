import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateCoupons, upsertCoupons } from '../../lib/coupon-catalog.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import { auditProblems, committedOffsets, IsolatedPipeline, verifyEqual } from './helpers.js';

/**
 * A member killed (SIGKILL) in its very first flush, at the two points around the MySQL commit, and what
 * the next member makes of it, checked exactly: before the commit nothing is stored and no offset is
 * committed; after it the decisions are stored and nothing is published yet, and the redelivery
 * re-emits their audit records. crash-recovery.test.ts strikes every point many times under load; this
 * file is the small, exact form (and what `npm run test:mutants` runs for the commit order and the
 * re-emission).
 */

const REQUESTS = 400;
// Short sessions, so that the killed member's partitions move on in seconds.
const FAST_GROUP = { SESSION_TIMEOUT_MS: '6000', HEARTBEAT_INTERVAL_MS: '1000', REBALANCE_TIMEOUT_MS: '10000' };

async function pipelineWithRequests(): Promise<IsolatedPipeline> {
  const p = new IsolatedPipeline(FAST_GROUP);
  await p.setUp();
  const coupons = generateCoupons({
    count: 20,
    prefix: 'POINT',
    campaigns: 1,
    quota: 12,
    perUserLimit: 2,
    validFrom: new Date('2026-01-01T00:00:00Z'),
    validUntil: new Date('2027-01-01T00:00:00Z'),
  });
  await upsertCoupons(p.rt.knex(), coupons);
  await p.produce([...simulateCheckout({ ...DEFAULT_SIMULATION, count: REQUESTS, couponCodes: coupons.map((c) => c.code), users: 50, seed: 17 })]);
  return p;
}

async function decisionsStored(p: IsolatedPipeline): Promise<number> {
  const [row] = (await p.rt.knex()('decisions').count({ n: '*' })) as { n: number | string }[];
  return Number(row!.n);
}

async function recoverAndCheck(p: IsolatedPipeline): Promise<void> {
  const next = await p.cli(['consume', '--exit-when-idle', '2']);
  expect(next.code, next.stderr).toBe(0);
  const ends = await p.endOffsets(p.config.redemptionTopic);
  expect([...ends.values()].reduce((a, b) => a + b, 0)).toBe(REQUESTS);
  expect(await committedOffsets(p)).toEqual(ends);
  const { equal, report } = await verifyEqual(p);
  expect(equal, report).toBe(true);
  expect(auditProblems(await p.auditRecords(REQUESTS), ends)).toEqual([]);
}

describe('a member killed in its first flush', () => {
  const pipelines: IsolatedPipeline[] = [];
  afterAll(async () => {
    for (const p of pipelines) await p.cleanup();
  });

  describe('at crash-before-db-commit', () => {
    let p: IsolatedPipeline;
    beforeAll(async () => pipelines.push((p = await pipelineWithRequests())));

    it('crash-before-db-commit: stores nothing and commits no offset; the next member decides everything once', async () => {
      const crashed = await p.cli(['consume', '--exit-when-idle', '2'], { REDEEM_FAULTS: 'crash-before-db-commit:1' });
      expect(crashed.code, crashed.stderr).toBeNull();
      expect(crashed.stderr).toContain('fault injected: crash-before-db-commit');
      expect(await decisionsStored(p)).toBe(0);
      // The offsets of a flush are committed only after its MySQL commit: none yet.
      expect(Object.fromEntries(await committedOffsets(p))).toEqual({ 0: 0, 1: 0, 2: 0 });
      await recoverAndCheck(p);
    });
  });

  describe('at crash-after-db-commit', () => {
    let p: IsolatedPipeline;
    beforeAll(async () => pipelines.push((p = await pipelineWithRequests())));

    it('crash-after-db-commit: the decisions are stored, nothing is published; the redelivery re-emits every record', async () => {
      const crashed = await p.cli(['consume', '--exit-when-idle', '2'], { REDEEM_FAULTS: 'crash-after-db-commit:1' });
      expect(crashed.code, crashed.stderr).toBeNull();
      expect(crashed.stderr).toContain('fault injected: crash-after-db-commit');
      const stored = await decisionsStored(p);
      expect(stored).toBeGreaterThan(0);
      expect(Object.fromEntries(await p.endOffsets(p.config.auditTopic))).toEqual({ 0: 0, 1: 0, 2: 0 });
      expect(Object.fromEntries(await committedOffsets(p))).toEqual({ 0: 0, 1: 0, 2: 0 });
      await recoverAndCheck(p);
    });
  });
});
