import { describe, expect, it } from 'vitest';

import { decisionRedisKey, versionRedisKey } from '../../consumers/decision-cache.js';
import { decisionKey } from '../../consumers/decision-records.js';

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
    expect(decisionRedisKey('p', 'C1', 'r1')).toBe('p:d:2:{C1}r1');
    expect(versionRedisKey('p', 'C1')).toBe('p:v:2:{C1}');
  });
});
