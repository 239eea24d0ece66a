import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { expect } from 'vitest';

import { deadLetterTopic } from '../../lib/config.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import type { RedemptionDecided, RedemptionRequested } from '../../schemas/types.js';
import { auditProblems, BackgroundConsumer, committedOffsets, drained, IsolatedPipeline, verifyEqual, waitUntil } from './helpers.js';

/**
 * The failover runs of the cluster profile (redis-cluster.test.ts, kafka-failover.test.ts): a paced
 * checkout load through one consumer, a fault, then the checks every run ends with: MySQL holds exactly
 * what the reference rules give (`redeem verify`), every request in the topic was decided or
 * dead-lettered, the audit stream is whole, and every request the producer had acknowledged is in the
 * requests topic exactly as often as it was acknowledged. It measures the longest time without
 * decisions (the largest gap between consecutive audit records' decided_at) and prints it.
 */

const RATE = 1000;
const GROUP = { SESSION_TIMEOUT_MS: '10000', HEARTBEAT_INTERVAL_MS: '1000', REBALANCE_TIMEOUT_MS: '15000' };

export interface Outcome {
  p: IsolatedPipeline;
  /** Requests the producer had acknowledged. */
  produced: number;
  /** Longest time without a decision, in ms, from the audit records' decided_at. */
  longestGapMs: number;
}

/** Every partition of every topic has a leader and all its replicas in sync (the cluster is whole). */
export async function fullyReplicated(p: IsolatedPipeline): Promise<boolean> {
  const admin = p.rt.kafka().admin();
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata();
    return topics.every((t) => t.partitions.every((part) => part.isr.length === part.replicas.length && part.leader >= 0));
  } catch {
    return false;
  } finally {
    await admin.disconnect();
  }
}

/**
 * A probe that fails while the cluster is failing over (KafkaJS's admin does not retry "not the correct
 * coordinator" when the group's coordinator moves) means "not yet", not a failed test.
 */
export function tolerant(check: () => Promise<boolean>): () => Promise<boolean> {
  return () => check().catch(() => false);
}

/** The longest time without a decision: its length and the last decision before it (epoch ms). */
export function longestGap(records: readonly RedemptionDecided[]): { ms: number; after: number } {
  const times = records.map((r) => r.decided_at.getTime()).sort((a, b) => a - b);
  const gap = { ms: 0, after: times[0] ?? 0 };
  for (let i = 1; i < times.length; i++) if (times[i]! - times[i - 1]! > gap.ms) Object.assign(gap, { ms: times[i]! - times[i - 1]!, after: times[i - 1]! });
  return gap;
}

/**
 * Runs the load through a fresh pipeline (registered in `pipelines`, for the caller's cleanup), strikes
 * `fault` once the consumer is going, keeps the load on until the fault is over and `afterFaultMs` more,
 * and checks the outcome.
 */
export async function underLoad(
  name: string,
  env: Record<string, string>,
  fault: (p: IsolatedPipeline) => Promise<void>,
  pipelines: IsolatedPipeline[],
  afterFaultMs = 5000,
): Promise<Outcome> {
  const p = new IsolatedPipeline({ ...GROUP, ...env, TOPIC_PARTITIONS: '6' });
  pipelines.push(p);
  await waitUntil('the cluster to be fully replicated before the test', () => fullyReplicated(p), 120_000);
  await p.setUp();
  expect((await p.cli(['coupons', 'generate', '--count', '100', '--prefix', 'DEMO', '--quota', '400'])).code).toBe(0);

  // The load runs in this process (the producer rides out broker failures with its own retries) until the
  // fault is over and a few seconds more.
  const producer = await p.producer();
  const requests = simulateCheckout({
    ...DEFAULT_SIMULATION,
    count: Number.MAX_SAFE_INTEGER,
    couponCodes: Array.from({ length: 100 }, (_, i) => `DEMO-${String(i + 1).padStart(6, '0')}`),
    seed: 11,
  });
  let produced = 0;
  // request id → how many times the producer had it acknowledged (an upstream retry repeats an id).
  const acknowledged = new Map<string, number>();
  let stop = false;
  const started = Date.now();
  const load = (async () => {
    while (!stop) {
      const chunk: RedemptionRequested[] = [];
      for (let i = 0; i < RATE / 20; i++) chunk.push(requests.next().value as RedemptionRequested);
      await producer.sendAll(chunk);
      for (const r of chunk) acknowledged.set(r.request_id, (acknowledged.get(r.request_id) ?? 0) + 1);
      produced += chunk.length;
      const due = started + (produced / RATE) * 1000;
      if (due > Date.now()) await sleep(due - Date.now());
    }
  })();

  // Kept for a look at what the consumer went through (its warnings and errors, with times); written as it
  // logs, so that it is there to read even when the test is stopped by its timeout.
  const consumerLog = join(tmpdir(), `redeem-failover-${p.id}-consumer.log`);
  const consumer = new BackgroundConsumer(p.env, [], consumerLog);
  const struck = { at: 0 };
  try {
    await waitUntil(
      'the consumer to get going',
      tolerant(async () => [...(await committedOffsets(p)).values()].reduce((a, b) => a + b, 0) >= 2000),
    );
    struck.at = Date.now();
    await fault(p);
    process.stderr.write(`[failover] ${name}: fault took ${Date.now() - struck.at} ms\n`);
    await sleep(afterFaultMs);
    stop = true;
    await load;
    await producer.disconnect();
    await waitUntil(
      'the group to drain the topic',
      tolerant(() => drained(p)),
      180_000,
    );
    expect(await consumer.stopWithin(60_000), consumer.lastWords(3000)).toBe(0);
  } finally {
    stop = true;
    consumer.child.kill('SIGKILL');
  }

  const { equal, report } = await verifyEqual(p);
  const ends = await p.endOffsets(p.config.redemptionTopic);
  const inTopic = [...ends.values()].reduce((a, b) => a + b, 0);
  const records = await p.auditRecords(Math.min(produced, inTopic));
  const decided = new Set(records.map((r) => `${r.source_partition}/${r.source_offset}`)).size;
  const deadLettered = [...(await p.endOffsets(deadLetterTopic(p.config.redemptionTopic))).values()].reduce((a, b) => a + b, 0);
  const gap = longestGap(records);

  // The producer's view, request by request (equal totals could hide a loss and a duplicate): every
  // acknowledged request is in the topic exactly as often as it was acknowledged (acks=all, idempotent).
  const inLog = new Map<string, number>();
  const decoder = p.rt.registry().decoderFor<RedemptionRequested>('requested');
  for (const m of await p.readTopic(p.config.redemptionTopic, inTopic)) {
    const id = (await decoder.decode(m.value!)).request_id;
    inLog.set(id, (inLog.get(id) ?? 0) + 1);
  }
  const lost = [...acknowledged].filter(([id, n]) => (inLog.get(id) ?? 0) < n).map(([id]) => id);
  const duplicated = [...inLog].filter(([id, n]) => n > (acknowledged.get(id) ?? 0)).map(([id]) => id);

  process.stderr.write(
    `[failover] ${name}: ${produced} acknowledged to the producer, ${inTopic} in the requests topic (acknowledged but missing ${lost.length}${lost.length > 0 ? `: ${lost.slice(0, 10).join(', ')}` : ''}; more often than acknowledged ${duplicated.length}${duplicated.length > 0 ? `: ${duplicated.slice(0, 10).join(', ')}` : ''}), ${decided} decided, ${deadLettered} dead-lettered, verify ${equal ? 'EQUAL' : 'DIFFERENT'}, longest time without decisions ${gap.ms} ms (from ${((gap.after - struck.at) / 1000).toFixed(1)} s after the fault began; the consumer's log: ${consumerLog})\n`,
  );
  expect(equal, report).toBe(true);
  expect(auditProblems(records, ends)).toEqual([]);
  expect(decided + deadLettered).toBe(inTopic);
  expect({ lost, duplicated }, 'every request the producer had acknowledged is in the requests topic, once').toEqual({ lost: [], duplicated: [] });
  expect(inTopic).toBe(produced);
  return { p, produced, longestGapMs: gap.ms };
}
