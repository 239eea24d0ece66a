import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { auditProblems, BackgroundConsumer, drained, IsolatedPipeline, runCli, verifyEqual, waitUntil } from './helpers.js';

const REQUESTS = 30_000;

/** Each assignment a member logged on joining, in order (it logs at info level). */
function assignments(member: BackgroundConsumer, topic: string): number[][] {
  return member.stderr
    .split('\n')
    .filter((line) => line.includes('"joined the group"'))
    .map((line) => ((JSON.parse(line) as { assignment: Record<string, number[]> }).assignment[topic] ?? []).slice().sort((a, b) => a - b));
}

describe('members join and leave during a run', () => {
  const p = new IsolatedPipeline({ TOPIC_PARTITIONS: '6', SESSION_TIMEOUT_MS: '10000', HEARTBEAT_INTERVAL_MS: '1000', REBALANCE_TIMEOUT_MS: '15000' });
  const members: BackgroundConsumer[] = [];
  beforeAll(() => p.setUp());
  afterAll(async () => {
    await Promise.all(members.map((m) => m.kill9()));
    await p.cleanup();
  });

  async function stableWith(n: number): Promise<void> {
    const admin = p.rt.kafka().admin();
    await admin.connect();
    try {
      await waitUntil(`a stable group of ${n}`, async () => {
        const { groups } = await admin.describeGroups([p.config.consumerGroup]);
        return groups[0]!.state === 'Stable' && groups[0]!.members.length === n;
      });
    } finally {
      await admin.disconnect();
    }
  }

  it('three consumers, added and removed under load: sticky partitions, one rebalance per change, verify equal', async () => {
    expect((await p.cli(['coupons', 'generate', '--count', '200', '--prefix', 'DEMO', '--quota', '120'])).code).toBe(0);
    const producing = runCli(['produce', '--generate', String(REQUESTS), '--coupons', '200', '--rate', '2500', '--no-progress'], p.env);
    const info = { ...p.env, LOG_LEVEL: 'info' };

    const a = new BackgroundConsumer(info);
    members.push(a);
    await stableWith(1);
    const b = new BackgroundConsumer(info);
    members.push(b);
    await stableWith(2);
    const c = new BackgroundConsumer(info);
    members.push(c);
    await stableWith(3);
    await sleep(2000);
    expect(await c.stop()).toBe(0);
    await stableWith(2);

    const produced = await producing;
    expect(produced.code, produced.stderr).toBe(0);
    await waitUntil('the group to drain the topic', () => drained(p));
    // Counted before the stops: a's leave makes a rebalance of its own, which b joins whenever b's
    // SIGTERM comes after it (a fresh clone counted 3 for b so, while a counted its 3).
    const rebalances = { a: a.rebalances(), b: b.rebalances() };
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);

    // a saw: alone, b joined, c joined, c left. b saw: joined, c joined, c left.
    expect(rebalances.a).toBe(3);
    expect(rebalances.b).toBe(2);
    const seenByA = assignments(a, p.config.redemptionTopic);
    expect(seenByA).toHaveLength(4);
    for (let i = 1; i < 3; i++) {
      // While members join, a only gives partitions away: it keeps the rest of what it had.
      expect(seenByA[i]!.every((partition) => seenByA[i - 1]!.includes(partition))).toBe(true);
    }
    // When c leaves, a keeps everything it had and takes some of c's.
    expect(seenByA[2]!.every((partition) => seenByA[3]!.includes(partition))).toBe(true);

    const { equal, report } = await verifyEqual(p);
    expect(equal, report).toBe(true);
    expect(auditProblems(await p.auditRecords(REQUESTS), await p.endOffsets(p.config.redemptionTopic))).toEqual([]);
  });
});
