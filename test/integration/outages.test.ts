import { describe, expect, it } from 'vitest';

import { DECISION_KEYS } from '../../consumers/decision-cache.js';
import type { RedemptionRequested } from '../../schemas/types.js';
import { metricTotal } from '../../scripts/harness/consumer-process.js';
import { IsolatedPipeline, verifyEqual, waitUntil } from './helpers.js';
import { outageHarness, SESSION_TIMEOUT_MS } from './outage-harness.js';

// Redis outages (MySQL and Kafka ones: outages-services.test.ts), on a Redis of this file's own.
const { redis, pipelines, underLoad } = outageHarness();

describe('Redis outages heal by themselves, losing nothing and applying nothing twice', () => {
  it('Redis flushed mid-run', async () => {
    await underLoad({}, async () => {
      await redis().flushAll();
    });
  });

  it('Redis restarted mid-run', async () => {
    await underLoad({}, () => redis().bounce(500));
  });

  it('Redis unreachable for three session timeouts: the consumer keeps deciding through MySQL and uses Redis again once it is back', async () => {
    // 15,000 at 500/s: the load (30 s) outlasts the outage (18 s from about 4 s in, once 2,000 are
    // committed), so there is work to decide once Redis is back.
    const { metrics, p } = await underLoad({}, () => redis().bounce(3 * SESSION_TIMEOUT_MS), { rate: 500, requests: 15_000 });
    expect(metricTotal(metrics, 'redeem_redis_errors_total')).toBeGreaterThan(0);
    expect(metricTotal(metrics, 'redeem_rebalances_total')).toBe(0);
    // The restarted Redis started empty: every decision it holds was written after it came back.
    expect((await (await p.rt.connectedRedis()).keys(`${p.config.redisKeyPrefix}:*:${DECISION_KEYS}:*`)).length).toBeGreaterThan(0);
  });
});

describe('an upstream retry long after the first request', () => {
  it('is still a DUPLICATE once Redis has forgotten the request', async () => {
    const p = new IsolatedPipeline({ DECISION_CACHE_TTL_SECONDS: '1' });
    pipelines.push(p);
    await p.setUp();
    expect((await p.cli(['coupons', 'generate', '--count', '1', '--prefix', 'LATE'])).code).toBe(0);
    const request: RedemptionRequested = {
      request_id: 'late-1',
      coupon_code: 'LATE-000001',
      user_id: 'u',
      order_id: 'o',
      op: 'REDEEM',
      reverses_request_id: null,
      amount_cents: 100,
      currency: 'EUR',
      occurred_at: new Date('2026-11-24T00:00:00Z'),
      source: 'test',
    };
    await p.produce([request]);
    expect((await p.cli(['consume', '--exit-when-idle', '2'])).code).toBe(0);
    const redis = await p.rt.connectedRedis();
    await waitUntil('Redis to expire the decision', async () => (await redis.keys(`${p.config.redisKeyPrefix}:*:${DECISION_KEYS}:*`)).length === 0, 10_000);
    await p.produce([request]);
    expect((await p.cli(['consume', '--exit-when-idle', '2'])).code).toBe(0);
    const audit = await p.auditRecords(2);
    expect(audit.map((r) => r.decision).sort()).toEqual(['APPLIED', 'DUPLICATE']);
    const [{ redeemed_count }] = (await p.rt.knex()('coupons').select('redeemed_count')) as [{ redeemed_count: number }];
    expect(redeemed_count).toBe(1);
    const { equal, report } = await verifyEqual(p);
    expect(equal, report).toBe(true);
  });
});
