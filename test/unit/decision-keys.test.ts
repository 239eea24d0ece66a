import { describe, expect, it } from 'vitest';

import { cacheValueOf, decisionRedisKey, storedDecisionOf, versionRedisKey } from '../../consumers/decision-cache.js';
import { decisionKey } from '../../consumers/decision-records.js';
import type { StoredDecision } from '../../consumers/types.js';

// Finding 4 of the liveness issue: ids joined with a separator collided, and a real redemption was
// answered DUPLICATE. Every key of a (coupon, request) pair must tell the pair apart, whatever it holds.
const pairs: [string, string][] = [
  ['A\u0000r1', 'x'],
  ['A', 'r1\u0000x'],
  ['A}:r1', 'x'],
  ['A', 'r1}:x'],
  ['A/r1', 'x'],
  ['A', 'r1/x'],
  ['1:{A', 'x'],
  ['A', ''],
  ['', 'A'],
];

describe('decision keys', () => {
  it('never give two different (coupon, request) pairs the same in-memory key', () => {
    expect(new Set(pairs.map(([c, r]) => decisionKey(c, r))).size).toBe(pairs.length);
  });

  it('never give two different pairs the same Redis key, and keep a coupon in one hash slot', () => {
    expect(new Set(pairs.map(([c, r]) => decisionRedisKey('p', c, r))).size).toBe(pairs.length);
    expect(decisionRedisKey('p', 'C1', 'r1')).toBe('p:d2:2:{C1}r1');
    expect(versionRedisKey('p', 'C1')).toBe('p:v:2:{C1}');
  });

  it('cache a decision compactly and read it back whole, and read a value of another shape as not known', () => {
    const stored: StoredDecision = {
      couponCode: 'C1',
      requestId: 'r1',
      op: 'REVERSE',
      decision: 'REJECTED',
      reason: 'NOT_REDEEMED',
      remainingQuota: null,
      sourceTopic: 'redemption.requested',
      sourcePartition: 3,
      sourceOffset: 2 ** 40,
      decidedAt: 1796517000829,
      consumerId: 'redeem-h-1',
      campaignId: 'CAMP "1"',
    };
    const text = cacheValueOf(stored);
    expect(text.length).toBeLessThan(JSON.stringify(stored).length / 1.5);
    expect(storedDecisionOf('C1', 'r1', text)).toEqual(stored);
    expect(storedDecisionOf('C1', 'r1', cacheValueOf({ ...stored, campaignId: undefined }))).toEqual({ ...stored, campaignId: null });
    // What a member of the version before wrote (an object), and what is no JSON at all.
    expect(storedDecisionOf('C1', 'r1', JSON.stringify(stored))).toBeNull();
    expect(storedDecisionOf('C1', 'r1', '{"couponCode"')).toBeNull();
  });
});
