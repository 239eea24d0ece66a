import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import { IsolatedPipeline, REDEEM } from './helpers.js';

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('shutdown on SIGTERM', () => {
  const p = new IsolatedPipeline();
  beforeAll(() => p.setUp());
  afterAll(() => p.cleanup());

  it('commits what is done, leaves the group and exits 0', async () => {
    const requests = [...simulateCheckout({ ...DEFAULT_SIMULATION, count: 2000, couponCodes: ['A', 'B', 'C', 'D'] })];
    await p.produce(requests);
    const child = spawn(process.execPath, [REDEEM, 'consume'], { env: { ...process.env, ...p.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));

    const admin = p.rt.kafka().admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(p.config.redemptionTopic);
      const committedAll = async () => {
        const [committed] = await admin.fetchOffsets({ groupId: p.config.consumerGroup, topics: [p.config.redemptionTopic] });
        return ends.every((e) => committed!.partitions.find((c) => c.partition === e.partition)?.offset === e.high);
      };
      await until('the consumer to commit every partition', committedAll);
      child.kill('SIGTERM');
      expect(await exited, stderr).toBe(0);
      expect(stdout).toContain('decided      2000');
      const { groups } = await admin.describeGroups([p.config.consumerGroup]);
      expect(groups[0]!.members).toEqual([]);
      expect(await committedAll()).toBe(true);
    } finally {
      await admin.disconnect();
    }
  });
});
