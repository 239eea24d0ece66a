import { randomBytes } from 'node:crypto';

import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DecisionCache, versionRedisKey } from '../../consumers/decision-cache.js';
import type { SourcedRequest, StoredDecision } from '../../consumers/types.js';
import { loadConfig } from '../../lib/config.js';
import { createRedis, type RedisClient, redisReady } from '../../lib/redis.js';
import { queuePacked } from '../../lib/resp-command.js';
import type { RedemptionRequested } from '../../schemas/types.js';

/**
 * The decision cache's per-coupon version on the default profile's Redis (its own key prefix): the
 * highest source offset whose decisions are committed, which only rises, and which tells a known
 * redelivery (at or below it, same topic and partition) from a message the cache has not seen.
 */

const prefix = `test-${randomBytes(4).toString('hex')}`;
let redis: RedisClient;

beforeAll(async () => {
  redis = createRedis(loadConfig({}).redisUrl);
  await redisReady(redis, 10_000);
});

afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.unlink(...keys);
  redis.disconnect();
});

function sourced(coupon: string, requestId: string, offset: number, partition = 0, topic = 't'): SourcedRequest {
  const request: RedemptionRequested = {
    request_id: requestId,
    coupon_code: coupon,
    user_id: 'u1',
    order_id: `o-${requestId}`,
    op: 'REDEEM',
    reverses_request_id: null,
    amount_cents: 100,
    currency: 'EUR',
    occurred_at: new Date(0),
    source: 'test',
  };
  return { request, topic, partition, offset };
}

function decided(s: SourcedRequest): StoredDecision {
  return {
    couponCode: s.request.coupon_code,
    requestId: s.request.request_id,
    op: 'REDEEM',
    decision: 'APPLIED',
    reason: null,
    remainingQuota: 1,
    sourceTopic: s.topic,
    sourcePartition: s.partition,
    sourceOffset: s.offset,
    decidedAt: 0,
    consumerId: 'c',
  };
}

describe('the decision cache on a standalone Redis', () => {
  it("a coupon's version only rises: a late flush of lower offsets (a former owner's) does not lower it", async () => {
    const cache = new DecisionCache(redis, `${prefix}-rise`, 600, pino({ level: 'silent' }));
    const requests = Array.from({ length: 10 }, (_, i) => sourced('C', `r${i}`, 100 + i));
    await cache.remember(requests.map(decided));
    expect(await redis.get(versionRedisKey(`${prefix}-rise`, 'C'))).toBe('t|0|109');
    await cache.remember([decided(requests[3]!)]);
    expect(await redis.get(versionRedisKey(`${prefix}-rise`, 'C'))).toBe('t|0|109');
    expect((await cache.lookup(requests)).redelivered).toBe(10);
  });

  it("a version of another topic or partition replaces a coupon's version, whatever its offset, and each write keeps the TTL", async () => {
    const p = `${prefix}-place`;
    const cache = new DecisionCache(redis, p, 600, pino({ level: 'silent' }));
    const key = versionRedisKey(p, 'C');
    const steps: [SourcedRequest, string][] = [
      [sourced('C', 'a', 500, 1), 't|1|500'],
      [sourced('C', 'b', 7, 1), 't|1|500'], // lower, same place: kept
      [sourced('C', 'c', 3, 10), 't|10|3'], // partition 10 begins with partition 1's digit: another place
      [sourced('C', 'd', 2, 1), 't|1|2'],
      [sourced('C', 'e', 1, 1, 't|1'), 't|1|1|1'], // a topic that reads like the last place's start
      [sourced('C', 'f', 0, 1), 't|1|0'],
    ];
    for (const [request, version] of steps) {
      await cache.remember([decided(request)]);
      expect(await redis.get(key), request.request.request_id).toBe(version);
      const ttl = await redis.ttl(key);
      expect(ttl).toBeGreaterThan(590);
      expect(ttl).toBeLessThanOrEqual(600);
    }
  });

  it('counts as redelivered only messages at or below their coupon version, in the same topic and partition', async () => {
    const cache = new DecisionCache(redis, `${prefix}-check`, 600, pino({ level: 'silent' }));
    await cache.remember([decided(sourced('C', 'r1', 50)), decided(sourced('D', 'r2', 7))]);
    const found = await cache.lookup([
      sourced('C', 'r1', 50), // the decided message itself: a redelivery
      sourced('C', 'r0', 49), // below the version: a redelivery (its decision may have expired)
      sourced('C', 'r3', 51), // above it: new
      sourced('D', 'r4', 8), // above D's version: new
      sourced('C', 'r5', 10, 1), // another partition: not comparable, new
      sourced('C', 'r6', 10, 0, 'other-topic'), // another topic: new
      sourced('E', 'r7', 1), // a coupon with no version: new
    ]);
    expect(found.redelivered).toBe(2);
    expect([...found.decisions.values()].map((d) => d.requestId)).toEqual(['r1']);
  });

  it("says whether Redis answered the whole lookup: a flush leaves out MySQL's read of prior decisions only then", async () => {
    const live = new DecisionCache(redis, `${prefix}-answered`, 600, pino({ level: 'silent' }));
    const requests = [sourced('C', 'r1', 1), sourced('D', 'r2', 2)];
    expect((await live.lookup(requests)).answered).toBe(true);
    // Nothing listens on port 1: every command fails at once, as with a Redis that is down.
    const down = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    let errors = 0;
    const cache = new DecisionCache(down, `${prefix}-answered`, 600, pino({ level: 'silent' }), () => (errors += 1));
    const found = await cache.lookup(requests);
    expect(found).toMatchObject({ answered: false, redelivered: 0 });
    expect(found.decisions.size).toBe(0);
    expect(errors).toBe(1);
    down.disconnect();
  });
});

describe('packed commands on a pipeline', () => {
  it('answer as ioredis answers its string commands: strings, nulls and integers', async () => {
    const key = `${prefix}:packed:{é}`;
    const pipeline = redis.pipeline();
    pipeline.set(key, 'välue "1"');
    queuePacked(pipeline, 'mget', [key, `${prefix}:packed:missing`]);
    queuePacked(pipeline, 'eval', ["return redis.call('STRLEN', KEYS[1])", 1, key]);
    const results = await pipeline.exec();
    expect(results).toEqual([
      [null, 'OK'],
      [null, ['välue "1"', null]],
      [null, Buffer.byteLength('välue "1"')],
    ]);
  });
});
