import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RedemptionRequested } from '../../schemas/types.js';
import { metricTotal } from '../../scripts/harness/consumer-process.js';
import { freePort, OwnKafka, OwnMariadb, OwnRedis } from '../../scripts/stack/own-servers.js';
import { auditProblems, BackgroundConsumer, committedOffsets, drained, IsolatedPipeline, runCli, verifyEqual, waitUntil } from './helpers.js';

const REQUESTS = 20_000;
// The broker's shortest session (group.min.session.timeout.ms): the outages below last three times as
// long as it, so a member that stopped heartbeating through one would be removed.
const SESSION_TIMEOUT_MS = 6000;
const GROUP = { SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS), HEARTBEAT_INTERVAL_MS: '1000', REBALANCE_TIMEOUT_MS: '10000' };
const pipelines: IsolatedPipeline[] = [];

// The outages strike a Redis and a MariaDB of this file's own (flushed, shut down, paused), never the
// machine's, which other checkouts and tests are using at the same time.
let redis: OwnRedis | undefined;
let mariadb: OwnMariadb | undefined;

beforeAll(async () => {
  [redis, mariadb] = await Promise.all([OwnRedis.start(), OwnMariadb.start()]);
});

afterAll(async () => {
  for (const p of pipelines) await p.cleanup();
  await redis?.stop();
  await mariadb?.stop();
});

/** A pipeline on this file's own Redis and MariaDB. */
function ownServers(): Record<string, string> {
  return { REDIS_URL: redis!.url, MYSQL_URL: mariadb!.url(`redeem_outage_${randomBytes(4).toString('hex')}`) };
}

interface Outcome {
  /** The consumer's /metrics once the group had drained the topic, before it was stopped. */
  metrics: Map<string, number>;
  p: IsolatedPipeline;
}

/**
 * Runs a paced checkout load through one background consumer, strikes with `outage` once the consumer
 * is under way, then waits for the group to drain and checks the result with `redeem verify` and the
 * audit stream. Returns the consumer's metrics as they were when the group had drained.
 */
async function underLoad(env: Record<string, string>, outage: (p: IsolatedPipeline) => Promise<void>, rate = 2000): Promise<Outcome> {
  const p = new IsolatedPipeline({ ...GROUP, ...ownServers(), METRICS_PORT: String(await freePort()), ...env });
  pipelines.push(p);
  await p.setUp();
  expect((await p.cli(['coupons', 'generate', '--count', '100', '--prefix', 'DEMO', '--quota', '150'])).code).toBe(0);
  const producing = runCli(['produce', '--generate', String(REQUESTS), '--coupons', '100', '--rate', String(rate), '--no-progress'], p.env);
  const consumer = new BackgroundConsumer(p.env);
  let metrics: Map<string, number>;
  try {
    await waitUntil('the consumer to get going', async () => [...(await committedOffsets(p)).values()].reduce((a, b) => a + b, 0) >= 2000);
    await outage(p);
    const produced = await producing;
    expect(produced.code, produced.stderr).toBe(0);
    await waitUntil('the group to drain the topic', () => drained(p), 180_000);
    metrics = await consumer.metrics();
    expect(await consumer.stop(), consumer.stderr).toBe(0);
  } finally {
    consumer.child.kill('SIGKILL');
  }
  const { equal, report } = await verifyEqual(p);
  expect(equal, report).toBe(true);
  expect(auditProblems(await p.auditRecords(REQUESTS), await p.endOffsets(p.config.redemptionTopic))).toEqual([]);
  // One consumer, no crash: every message decided exactly once by it.
  expect(metricTotal(metrics, 'redeem_decisions_total')).toBe(REQUESTS);
  return { metrics, p };
}

describe('outages heal by themselves, losing nothing and applying nothing twice', () => {
  it('Redis flushed mid-run', async () => {
    await underLoad({}, async () => {
      await redis!.flushAll();
    });
  });

  it('Redis restarted mid-run', async () => {
    await underLoad({}, () => redis!.bounce(500));
  });

  it('Redis unreachable for three session timeouts: the consumer keeps deciding through MySQL and uses Redis again once it is back', async () => {
    // 500/s: the load (40 s) outlasts the outage, so there is work to decide once Redis is back.
    const { metrics, p } = await underLoad({}, () => redis!.bounce(3 * SESSION_TIMEOUT_MS), 500);
    expect(metricTotal(metrics, 'redeem_redis_errors_total')).toBeGreaterThan(0);
    expect(metricTotal(metrics, 'redeem_rebalances_total')).toBe(0);
    // The restarted Redis started empty: every decision it holds was written after it came back.
    expect((await (await p.rt.connectedRedis()).keys(`${p.config.redisKeyPrefix}:*:d:*`)).length).toBeGreaterThan(0);
  });

  it('MySQL stalled for three session timeouts: no rebalance, nothing lost', async () => {
    const { metrics } = await underLoad({}, () => mariadb!.pause(3 * SESSION_TIMEOUT_MS));
    expect(metricTotal(metrics, 'redeem_rebalances_total')).toBe(0);
  });

  it('lock-wait timeouts are retried until the foreign lock goes', async () => {
    const { metrics } = await underLoad({ MYSQL_LOCK_WAIT_TIMEOUT_SECONDS: '1' }, async (p) => {
      // An operator's open transaction holds the hottest coupons' rows for 5 s.
      await p.rt.knex().transaction(async (trx) => {
        // The pipeline's 1 s lock wait is for its own flushes; this operator waits for them as long as it takes.
        await trx.raw('SET SESSION innodb_lock_wait_timeout = 60');
        await trx('coupons').whereIn('code', ['DEMO-000001', 'DEMO-000002', 'DEMO-000003']).forUpdate();
        await sleep(5000);
      });
    });
    expect(metrics.get('redeem_retries_total{stage="flush"}')).toBeGreaterThan(0);
  });

  it('the Kafka broker restarted mid-run', async () => {
    // A broker of this test's own: restarting the stack's would strike every other file's topics too.
    const kafka = await OwnKafka.start();
    try {
      const { p } = await underLoad({ KAFKA_BROKERS: kafka.brokers }, () => kafka.restart());
      // Its topics and group live on the broker about to go: cleaned up now, not after the file.
      pipelines.splice(pipelines.indexOf(p), 1);
      await p.cleanup();
    } finally {
      await kafka.stop();
    }
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
    await waitUntil('Redis to expire the decision', async () => (await redis.keys(`${p.config.redisKeyPrefix}:*:d:*`)).length === 0, 10_000);
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
