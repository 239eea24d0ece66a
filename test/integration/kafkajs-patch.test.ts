import { setTimeout as sleep } from 'node:timers/promises';

import { AssignerProtocol, type Consumer, type Kafka, KafkaJSError, type PartitionAssigner } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createKafka } from '../../lib/kafka.js';
import { IsolatedPipeline, waitUntil } from './helpers.js';

/**
 * What patches/kafkajs+2.2.4.patch changes in KafkaJS, shown against the real broker. Each test would
 * fail on the unpatched library (see the comments).
 */

const SESSION = { sessionTimeout: 10_000, heartbeatInterval: 500, rebalanceTimeout: 15_000 };

/** Round-robin over the subscribed topics' partitions, after `before()` (which may stall or throw). */
function testAssigner(name: string, before: () => Promise<void>): PartitionAssigner {
  return ({ cluster }) => ({
    name,
    version: 1,
    async assign({ members, topics }) {
      await before();
      const plan = new Map<string, Record<string, number[]>>(members.map((m) => [m.memberId, {}]));
      const ids = members.map((m) => m.memberId).sort();
      let i = 0;
      for (const topic of topics) {
        for (const { partitionId } of cluster.findTopicPartitionMetadata(topic)) {
          const mine = plan.get(ids[i++ % ids.length]!)!;
          (mine[topic] ??= []).push(partitionId);
        }
      }
      return members.map((m) => ({
        memberId: m.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment: plan.get(m.memberId)!, userData: Buffer.alloc(0) }),
      }));
    },
    protocol({ topics }) {
      return { name, metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }) };
    },
  });
}

interface Watched {
  consumer: Consumer;
  joins: number[];
  crashes: string[];
}

function watch(consumer: Consumer): Watched {
  const w: Watched = { consumer, joins: [], crashes: [] };
  consumer.on(consumer.events.GROUP_JOIN, () => w.joins.push(Date.now()));
  consumer.on(consumer.events.CRASH, (e) => w.crashes.push(String((e.payload.error as Error).message)));
  return w;
}

async function members(kafka: Kafka, groupId: string): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([groupId]);
    return groups[0]!.members.map((m) => m.memberId);
  } finally {
    await admin.disconnect();
  }
}

describe('the KafkaJS patch', () => {
  const p = new IsolatedPipeline({ TOPIC_PARTITIONS: '2' });
  const started: Consumer[] = [];
  beforeAll(() => p.setUp());
  afterAll(async () => {
    for (const c of started) await c.disconnect().catch(() => {});
    await p.cleanup();
  });

  it('a follower waits for its SyncGroup as long as the rebalance may take, not the request timeout', async () => {
    // Request timeout 3 s, leader's assignment takes 6 s: unpatched, the follower's SyncGroup times out
    // client-side after 3 s, the follower crashes and restarts under a new member id.
    const kafka = createKafka(p.config.kafkaBrokers, 'patch-sync', p.rt.logger, {}, 3000);
    const groupId = `${p.config.consumerGroup}-sync`;
    const slow = testAssigner('SlowLeader', () => sleep(6000).then(() => undefined));
    const leader = watch(kafka.consumer({ groupId, ...SESSION, partitionAssigners: [slow] }));
    const follower = watch(kafka.consumer({ groupId, ...SESSION, partitionAssigners: [slow] }));
    started.push(leader.consumer, follower.consumer);
    for (const w of [leader, follower]) {
      await w.consumer.connect();
      await w.consumer.subscribe({ topic: p.config.redemptionTopic, fromBeginning: true });
    }
    await leader.consumer.run({ eachMessage: async () => {} });
    await waitUntil('the leader to join', async () => leader.joins.length > 0, 30_000);
    await follower.consumer.run({ eachMessage: async () => {} });
    await waitUntil('the follower to join', async () => follower.joins.length > 0, 40_000);
    expect(follower.crashes).toEqual([]);
    expect((await members(kafka, groupId)).length).toBe(2);
    await follower.consumer.disconnect();
    await leader.consumer.disconnect();
  });

  it('a member whose join failed leaves the group, so its restart joins at once instead of waiting out a ghost', async () => {
    // The first assignment fails (after JoinGroup succeeded: the broker counts the member in). Unpatched,
    // KafkaJS restarts without a LeaveGroup and the new member id waits for the old one to expire
    // (the rebalance timeout, 15 s here) before it gets anything.
    const kafka = createKafka(p.config.kafkaBrokers, 'patch-leave', p.rt.logger, {}, 30_000);
    const groupId = `${p.config.consumerGroup}-leave`;
    let failures = 0;
    const flaky = testAssigner('FailsOnce', async () => {
      if (failures++ === 0) throw new KafkaJSError('assignment failed on purpose', { retriable: true });
    });
    const w = watch(kafka.consumer({ groupId, ...SESSION, partitionAssigners: [flaky], retry: { initialRetryTime: 100, retries: 0 } }));
    started.push(w.consumer);
    await w.consumer.connect();
    await w.consumer.subscribe({ topic: p.config.redemptionTopic, fromBeginning: true });
    const startedAt = Date.now();
    await w.consumer.run({ eachMessage: async () => {} });
    await waitUntil('the member to crash and rejoin', async () => w.joins.length > 0, 40_000);
    expect(w.crashes.length).toBeGreaterThanOrEqual(1);
    expect(w.joins[0]! - startedAt).toBeLessThan(8000);
    expect((await members(kafka, groupId)).length).toBe(1);
    await w.consumer.disconnect();
  });

  it('offsets committed while stop() waits for the batch in hand are committed; a commit after stop fails', async () => {
    await p.produce([
      {
        request_id: 'r1',
        coupon_code: 'C',
        user_id: 'u',
        order_id: 'o',
        op: 'REDEEM',
        reverses_request_id: null,
        amount_cents: 1,
        currency: 'EUR',
        occurred_at: new Date(),
        source: 'test',
      },
    ]);
    const kafka = createKafka(p.config.kafkaBrokers, 'patch-commit', p.rt.logger, {}, 30_000);
    const groupId = `${p.config.consumerGroup}-commit`;
    const consumer = kafka.consumer({ groupId, ...SESSION });
    started.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic: p.config.redemptionTopic, fromBeginning: true });
    let inBatch: () => void = () => {};
    const batchStarted = new Promise<void>((resolve) => (inBatch = resolve));
    let committed: Promise<void> | null = null;
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        inBatch();
        // The work takes a while; the shutdown starts meanwhile (unpatched, the commit below then
        // resolved without committing anything).
        await sleep(1500);
        const last = batch.messages[batch.messages.length - 1]!;
        committed = consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: String(Number(last.offset) + 1) }]);
        await committed;
      },
    });
    await batchStarted;
    await consumer.disconnect();
    await expect(committed).resolves.toBeUndefined();
    const admin = kafka.admin();
    await admin.connect();
    try {
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [p.config.redemptionTopic] });
      expect(offsets!.partitions.reduce((sum, x) => sum + Math.max(0, Number(x.offset)), 0)).toBe(1);
    } finally {
      await admin.disconnect();
    }
    // Stopped for good: a commit now cannot happen, and says so instead of resolving.
    await expect(consumer.commitOffsets([{ topic: p.config.redemptionTopic, partition: 0, offset: '1' }])).rejects.toThrow(/not committed|not initialized/);
  });
});
