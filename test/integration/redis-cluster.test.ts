import { randomBytes } from 'node:crypto';

import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DecisionCache, lastFlushKey } from '../../consumers/decision-cache.js';
import type { SourcedRequest, StoredDecision } from '../../consumers/types.js';
import { createRedis, isCluster, keySlot, type RedisClient, redisMasters, redisReady } from '../../lib/redis.js';
import { CLUSTER_ENV } from '../../scripts/stack/cluster-profile.js';
import { killRedisMaster, startRedisNode } from '../../scripts/stack/redis-cluster.js';
import { clusterProfileUp, redisClusterForFile } from './cluster-profile.js';
import { underLoad } from './failover.js';
import type { IsolatedPipeline } from './helpers.js';

/**
 * The decision cache on a real Redis Cluster (3 masters, 3 replicas, started by this file once the run
 * holds the cluster lock, and stopped after it: cluster-profile.ts): a flush's keys spread over many
 * slots on every master, yet each call costs one pipeline per master; namespace cleanup finds keys on
 * every master. Then the cluster's failover under load. One file, so that the strike never lands while
 * the cache tests run (two files would run at once: a master killed under them lost a third of their
 * keys).
 */

const NODES = [7000, 7001, 7002].map((port) => ({ host: '127.0.0.1', port }));
let redis: RedisClient;
let redisCluster: { stop(): Promise<void> } | undefined;
const prefix = `test-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  await clusterProfileUp(900_000);
  redisCluster = await redisClusterForFile((line) => process.stderr.write(`[redis-cluster] ${line}\n`));
  redis = createRedis('redis://unused', NODES);
  await redisReady(redis, 10_000);
}, 900_000);

const pipelines: IsolatedPipeline[] = [];

afterAll(async () => {
  try {
    for (const p of pipelines) await p.cleanup();
    for (const node of redisMasters(redis)) {
      const keys = await node.keys(`${prefix}*`);
      for (const key of keys) await node.unlink(key);
    }
    redis.disconnect();
  } finally {
    await redisCluster?.stop();
  }
}, 180_000);

function batch(count: number, coupons: number): { requests: SourcedRequest[]; decisions: StoredDecision[] } {
  const requests: SourcedRequest[] = [];
  const decisions: StoredDecision[] = [];
  for (let i = 0; i < count; i++) {
    const coupon = `C-${i % coupons}`;
    const request = {
      request_id: `r-${i}`,
      coupon_code: coupon,
      user_id: 'u',
      order_id: `o-${i}`,
      op: 'REDEEM' as const,
      reverses_request_id: null,
      amount_cents: 100,
      currency: 'EUR',
      occurred_at: new Date(0),
      source: 'test',
    };
    requests.push({ request, topic: 't', partition: 0, offset: i });
    decisions.push({
      couponCode: coupon,
      requestId: request.request_id,
      op: 'REDEEM',
      decision: 'APPLIED',
      reason: null,
      remainingQuota: 1,
      sourceTopic: 't',
      sourcePartition: 0,
      sourceOffset: i,
      decidedAt: 0,
      consumerId: 'c',
    });
  }
  return { requests, decisions };
}

describe('the decision cache on Redis Cluster', () => {
  it('remembers and finds a flush of 2,000 decisions over 500 coupons, one pipeline per master per call', async () => {
    expect(isCluster(redis)).toBe(true);
    const errors: string[] = [];
    const cache = new DecisionCache(redis, prefix, 600, pino({ level: 'silent' }), (op) => errors.push(op));
    const { requests, decisions } = batch(2000, 500);

    expect((await cache.lookup(requests)).decisions.size).toBe(0);
    expect(cache.nodeRoundTrips).toBe(3);
    await cache.remember(decisions);
    expect(cache.nodeRoundTrips).toBe(6);
    const found = await cache.lookup(requests);
    expect(cache.nodeRoundTrips).toBe(9);
    expect(found.decisions.size).toBe(2000);
    // Every request's offset is at or below its coupon's version: all known redeliveries.
    expect(found.redelivered).toBe(2000);
    expect(errors).toEqual([]);
    expect(await redis.get(lastFlushKey(prefix))).toContain('"decisions":2000');

    // The keys really are spread over all three masters.
    const perMaster = await Promise.all(redisMasters(redis).map(async (node) => (await node.keys(`${prefix}:*`)).length));
    expect(perMaster).toHaveLength(3);
    for (const n of perMaster) expect(n).toBeGreaterThan(300);
    expect(perMaster.reduce((a, b) => a + b, 0)).toBe(2000 + 500 + 1);
  });

  it('a version only rises, on a cluster as standalone', async () => {
    const cache = new DecisionCache(redis, `${prefix}-v`, 600, pino({ level: 'silent' }));
    const { requests, decisions } = batch(10, 1);
    await cache.remember(decisions);
    await cache.remember([decisions[3]!]);
    expect((await cache.lookup(requests)).redelivered).toBe(10);
  });
});

describe('the decision cache on a standalone Redis (the default profile)', () => {
  it('sends one pipeline per call for the whole flush, and a version only rises', async () => {
    const standalone = createRedis('redis://127.0.0.1:6379');
    const standalonePrefix = `${prefix}-s`;
    try {
      await redisReady(standalone);
      expect(isCluster(standalone)).toBe(false);
      const cache = new DecisionCache(standalone, standalonePrefix, 600, pino({ level: 'silent' }));
      const { requests, decisions } = batch(2000, 500);
      await cache.remember(decisions);
      await cache.remember([decisions[0]!]);
      const found = await cache.lookup(requests);
      expect(cache.nodeRoundTrips).toBe(3);
      expect(found.decisions.size).toBe(2000);
      expect(found.redelivered).toBe(2000);
    } finally {
      const keys = await standalone.keys(`${standalonePrefix}:*`);
      if (keys.length > 0) await standalone.del(...keys);
      standalone.disconnect();
    }
  });
});

// The Kafka broker failovers (kill -9 of the busiest broker, a rolling restart) are in
// kafka-failover.test.ts.
describe('Redis Cluster fails over under load, losing nothing and applying nothing twice', () => {
  // A paced checkout load through one consumer on the single-node Kafka, a strike, then the checks of
  // every failover run (failover.ts): `redeem verify` equal, every produced request decided or
  // dead-lettered, a whole audit stream, every acknowledged request in the topic once, and the longest
  // time without decisions.
  it('kill -9 of the Redis master holding the hottest coupon: its replica takes over', async () => {
    const { longestGapMs } = await underLoad(
      'kill -9 Redis master',
      { REDIS_CLUSTER_NODES: CLUSTER_ENV.REDIS_CLUSTER_NODES },
      async () => {
        const slot = keySlot(`{DEMO-000001}`);
        const { killed, promoted } = await killRedisMaster(slot);
        expect(promoted).not.toBe(killed);
        // The killed node comes back as a replica of its successor.
        await startRedisNode(killed);
      },
      pipelines,
    );
    // Measured 2.0 s (cluster-node-timeout 2 s, then the replica's promotion); three times that for a
    // loaded 2-core host. The consumer goes on through MySQL while Redis answers nothing, so a longer
    // stall is the pipeline waiting on Redis.
    expect(longestGapMs).toBeLessThan(6_000);
  }, 300_000);
});
