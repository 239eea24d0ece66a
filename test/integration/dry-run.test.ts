import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { couponCodes } from '../../lib/coupon-catalog.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import { IsolatedPipeline, verifyEqual } from './helpers.js';

const REQUESTS = 20_000;

/** The summary lines that say what was decided: applied, duplicates, rejected with the reasons. */
function decided(output: string): { applied: string; duplicates: string; rejected: string } {
  const line = (label: string) => new RegExp(`^${label}\\s+(.*)$`, 'm').exec(output)?.[1]?.trim() ?? `no ${label} line`;
  return { applied: line('applied'), duplicates: line('duplicates'), rejected: line('rejected') };
}

/**
 * A dry run rolls each flush back, so before, a range of many flushes was decided as if every flush
 * were the first: a retry in a later flush of a request decided in an earlier one was "applied" again,
 * and quotas used up in earlier flushes were still free. It now carries its own decisions and effects
 * from flush to flush in memory.
 */
describe('replay --dry-run over many flushes', () => {
  // Small flushes: 20,000 requests make at least 40 of them. Tight quotas and per-user limits, so that
  // EXHAUSTED and USER_LIMIT depend on earlier flushes; upstream retries and refunds across flushes.
  const p = new IsolatedPipeline({ FLUSH_MAX_MESSAGES: '500' });
  beforeAll(async () => {
    await p.setUp();
    expect((await p.cli(['coupons', 'generate', '--count', '60', '--prefix', 'DRY', '--quota', '120', '--per-user-limit', '1'])).code).toBe(0);
    await p.produce([
      ...simulateCheckout({
        ...DEFAULT_SIMULATION,
        count: REQUESTS,
        couponCodes: couponCodes('DRY', 60),
        users: 600,
        retryShare: 0.05,
        refundShare: 0.05,
        seed: 20,
      }),
    ]);
  });
  afterAll(() => p.cleanup());

  it('reports exactly what the real run then does', async () => {
    const dry = await p.cli(['replay', '--dry-run', '--no-progress', '--max-wait', '150']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`dry run, nothing written: replayed ${REQUESTS} messages`);
    const [{ n }] = (await p.rt.knex()('decisions').count({ n: '*' })) as [{ n: number | string }];
    expect(Number(n)).toBe(0);

    const real = await p.cli(['consume', '--exit-when-idle', '1', '--max-wait', '150']);
    expect(real.code, real.stderr).toBe(0);
    const expected = decided(real.stdout);
    expect(Number(/^(\d+)/.exec(expected.duplicates)?.[1])).toBeGreaterThan(0);
    expect(expected.rejected).toMatch(/EXHAUSTED \d+/);
    expect(expected.rejected).toMatch(/USER_LIMIT \d+/);
    expect(decided(dry.stdout)).toEqual(expected);
    const { equal, report } = await verifyEqual(p);
    expect(equal, report).toBe(true);
  });
});
