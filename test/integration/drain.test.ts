import { setTimeout as sleep } from 'node:timers/promises';

import type { Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { stickyAssignor } from '../../consumers/sticky-assignor.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import { drained, IsolatedPipeline, verifyEqual, waitUntil } from './helpers.js';

/**
 * `consume --exit-when-idle` used to exit 0 as soon as the member itself was idle, even while another
 * member (in the incident, a ghost) held partitions with work undone. Here a member that holds its
 * partitions and never finishes them plays that part.
 */
describe('--exit-when-idle means the work is done', () => {
  const p = new IsolatedPipeline({ SESSION_TIMEOUT_MS: '10000', HEARTBEAT_INTERVAL_MS: '1000', REBALANCE_TIMEOUT_MS: '15000' });
  let blocker: Consumer | null = null;
  let released = false;
  beforeAll(async () => {
    await p.setUp();
    expect((await p.cli(['coupons', 'generate', '--count', '30', '--prefix', 'DEMO', '--quota', '50'])).code).toBe(0);
    await p.produce([
      ...simulateCheckout({
        ...DEFAULT_SIMULATION,
        count: 3000,
        couponCodes: Array.from({ length: 30 }, (_, i) => `DEMO-${String(i + 1).padStart(6, '0')}`),
        seed: 7,
      }),
    ]);
  });
  afterAll(async () => {
    released = true;
    await blocker?.disconnect().catch(() => {});
    await p.cleanup();
  });

  it('waits while another member holds undone work, and --max-wait gives up naming the lag per partition', async () => {
    // A member of the same group (same assignor) that takes its partitions and never finishes a batch,
    // heartbeating all along so that the group keeps it.
    blocker = p.rt.kafka().consumer({
      groupId: p.config.consumerGroup,
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      rebalanceTimeout: 15_000,
      partitionAssigners: [stickyAssignor(() => new Map(), 'blocker')],
    });
    const held = new Set<number>();
    await blocker.connect();
    await blocker.subscribe({ topic: p.config.redemptionTopic, fromBeginning: true });
    await blocker.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, heartbeat }) => {
        held.add(batch.partition);
        while (!released) {
          await heartbeat();
          await sleep(300);
        }
      },
    });
    await waitUntil('the blocker to hold a batch', async () => held.size > 0, 30_000);

    const run = await p.cli(['consume', '--exit-when-idle', '2', '--max-wait', '8']);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(
      /DRAIN_INCOMPLETE: gave up after (?:[89]|1[0-7]) s: group test-\w+-group still has \d+ messages of test-\w+\.requested to commit: partition \d: \d+ \(committed \d+ of \d+\)/,
    );
    expect(await drained(p)).toBe(false);
    // The partitions it names are the blocker's.
    const named = [...run.stderr.matchAll(/partition (\d): \d+ \(committed/g)].map((m) => Number(m[1]));
    expect(named.length).toBeGreaterThan(0);
    for (const partition of named) expect(held.has(partition)).toBe(true);

    released = true;
    await blocker.disconnect();
    blocker = null;
    const after = await p.cli(['consume', '--exit-when-idle', '2', '--max-wait', '60']);
    expect(after.code, after.stderr).toBe(0);
    expect(await drained(p)).toBe(true);
    const { equal, report } = await verifyEqual(p);
    expect(equal, report).toBe(true);
  });

  it('--max-wait alone is refused', async () => {
    const run = await p.cli(['consume', '--max-wait', '5']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--max-wait needs --exit-when-idle/);
  });
});
