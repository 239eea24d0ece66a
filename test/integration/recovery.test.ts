import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, describe, expect, it } from 'vitest';

import { couponCodes, generateCoupons, upsertCoupons } from '../../lib/coupon-catalog.js';
import { DEFAULT_SIMULATION, seededRandom, simulateCheckout } from '../../producers/checkout-simulator.js';
import type { RedemptionDecided } from '../../schemas/types.js';
import { auditProblems, BackgroundConsumer, committedOffsets, drained, IsolatedPipeline, runCli, verifyEqual, waitUntil } from './helpers.js';

/**
 * Time to recover, with the production group settings (session 10 s, heartbeat 1 s, rebalance 20 s):
 * the incident was 12 kill -9 of the only consumer within a minute, after which a fresh consumer spent
 * three minutes in SyncGroup timeouts and restarts, joined next to a ghost holding half the
 * partitions, and exited 0 with work undone.
 */
const pipelines: IsolatedPipeline[] = [];
afterAll(async () => {
  for (const p of pipelines) await p.cleanup();
});

async function pipeline(env: Record<string, string> = {}): Promise<IsolatedPipeline> {
  const p = new IsolatedPipeline({ TOPIC_PARTITIONS: '6', ...env });
  pipelines.push(p);
  await p.setUp();
  const coupons = generateCoupons({
    count: 200,
    prefix: 'REC',
    campaigns: 2,
    quota: 200,
    perUserLimit: 3,
    validFrom: new Date('2026-01-01T00:00:00Z'),
    validUntil: new Date('2027-01-01T00:00:00Z'),
  });
  await upsertCoupons(p.rt.knex(), coupons);
  return p;
}

const requests = (count: number, seed: number) => [
  ...simulateCheckout({ ...DEFAULT_SIMULATION, count, couponCodes: couponCodes('REC', 200), users: 2000, seed }),
];

/** When the consumer process `pid` made its first decision, from its audit records (ms since epoch). */
function firstDecisionOf(records: readonly RedemptionDecided[], pid: number): number {
  const mine = records.filter((r) => r.consumer_id.includes(`-${pid}-`)).map((r) => new Date(r.decided_at).getTime());
  if (mine.length === 0) throw new Error(`no audit record by process ${pid}`);
  return Math.min(...mine);
}

async function checkEverything(p: IsolatedPipeline, total: number): Promise<RedemptionDecided[]> {
  expect(await drained(p)).toBe(true);
  const { equal, report } = await verifyEqual(p);
  expect(equal, report).toBe(true);
  const records = await p.auditRecords(total);
  expect(auditProblems(records, await p.endOffsets(p.config.redemptionTopic))).toEqual([]);
  return records;
}

describe('recovery after kill -9', () => {
  it('12 kill -9 of the only consumer within a minute, then one fresh consumer: it decides within session timeout + 5 s and drains everything', async () => {
    const p = await pipeline();
    const TOTAL = 30_000;
    await p.produce(requests(TOTAL, 21));
    const random = seededRandom(12);
    const loopStarted = Date.now();
    // The first victim dies in the middle of the backlog, with flushes under way.
    const first = new BackgroundConsumer(p.env);
    await waitUntil('the first consumer to commit', async () => [...(await committedOffsets(p)).values()].some((o) => o > 0), 30_000);
    await first.kill9();
    for (let kill = 1; kill < 12; kill++) {
      const victim = new BackgroundConsumer(p.env);
      // The others at every stage: starting up, joining (next to the ghosts of the earlier ones), syncing, flushing.
      await sleep(1000 + random() * 3000);
      await victim.kill9();
    }
    const loopSeconds = (Date.now() - loopStarted) / 1000;
    expect(loopSeconds).toBeLessThan(60);
    const undoneBefore = TOTAL - [...(await committedOffsets(p)).values()].reduce((a, b) => a + b, 0);

    const startedAt = Date.now();
    const fresh = new BackgroundConsumer(p.env, ['--exit-when-idle', '3', '--max-wait', '150']);
    const code = await fresh.exited;
    const drainedAfter = (Date.now() - startedAt) / 1000;
    expect(code, fresh.stderr).toBe(0);
    const records = await checkEverything(p, TOTAL);
    const firstDecisionAfter = (firstDecisionOf(records, fresh.child.pid!) - startedAt) / 1000;
    console.log(
      JSON.stringify({
        test: 'crash-loop',
        kills: 12,
        loopSeconds,
        undoneBefore,
        firstDecisionAfterSeconds: firstDecisionAfter,
        exitedAfterSeconds: drainedAfter,
        rebalances: fresh.rebalances(),
      }),
    );
    expect(undoneBefore).toBeGreaterThan(0);
    expect(undoneBefore).toBeLessThan(TOTAL);
    expect(firstDecisionAfter).toBeLessThan(p.config.sessionTimeoutMs / 1000 + 5);
  }, 400_000);

  it("one kill -9 under load: the replacement decides within 10 s, long before the dead member's session could run out", async () => {
    // A 20 s session: the replacement of a member whose death nobody noticed would wait at least that
    // long (the coordinator holds the join for the dead member until its session runs out), twice the
    // 10 s the replacement is allowed. With the production 10 s session the two were 1 s apart, which a
    // busy host's stretch of a few seconds could cross.
    const p = await pipeline({ SESSION_TIMEOUT_MS: '20000' });
    const TOTAL = 20_000;
    const producing = runCli(
      ['produce', '--generate', String(TOTAL), '--coupons', '200', '--rate', '2000', '--coupon-prefix', 'REC', '--seed', '3', '--no-progress'],
      p.env,
    );
    const victim = new BackgroundConsumer(p.env);
    await waitUntil('the first consumer to get going', async () => [...(await committedOffsets(p)).values()].reduce((a, b) => a + b, 0) >= 3000, 120_000);
    await victim.kill9();
    const startedAt = Date.now();
    const replacement = new BackgroundConsumer(p.env, ['--exit-when-idle', '3', '--max-wait', '150']);
    const produced = await producing;
    expect(produced.code, produced.stderr).toBe(0);
    expect(await replacement.exited, replacement.stderr).toBe(0);
    const records = await checkEverything(p, TOTAL);
    const firstDecisionAfter = (firstDecisionOf(records, replacement.child.pid!) - startedAt) / 1000;
    console.log(JSON.stringify({ test: 'single-kill', firstDecisionAfterSeconds: firstDecisionAfter }));
    // Measured 4.8-4.9 s on a quiet host, 8.3 s in a whole suite's run: the peers remove the dead member
    // within seconds. Without that, the replacement waited for the dead member's session to run out
    // (10.2-11.1 s measured with a 10 s session), so it fails when dead members are no longer removed.
    expect(firstDecisionAfter).toBeLessThanOrEqual(10);
    expect(p.config.sessionTimeoutMs / 1000).toBeGreaterThanOrEqual(20);
  }, 300_000);
});
