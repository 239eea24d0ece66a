import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { type Admin, Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';

import { createTopicsWithLeaders, topicOffsets, withAdmin } from '../../lib/kafka.js';

/**
 * A topic created a moment ago: its metadata names a leader for every partition before that leader
 * answers for it. KafkaJS's `fetchTopicOffsets` gives up at the first NOT_LEADER_FOR_PARTITION, and a
 * client's audit reader starts with that call (a CI run failed so: `redeem()` rejected with "This server
 * is not the leader for that topic-partition"). On this broker a 12-partition topic answers so in most
 * tries right after its metadata shows every leader.
 */

const kafka = new Kafka({
  clientId: 'fresh-topics-test',
  brokers: [process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'],
  logLevel: logLevel.NOTHING,
  retry: { initialRetryTime: 300, retries: 8, maxRetryTime: 5000 },
});
const PARTITIONS = 12;
const TRIES = 5;
const run = randomBytes(4).toString('hex');
const created: string[] = [];

function topicName(label: string, i: number): string {
  const name = `test-fresh-${run}-${label}-${i}`;
  created.push(name);
  return name;
}

/** Creates the topic and returns once its metadata names a leader for every partition, as far as metadata alone can tell. */
async function createLedByMetadata(admin: Admin, topic: string): Promise<void> {
  await admin.createTopics({ waitForLeaders: false, topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }] });
  for (;;) {
    const found = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => null);
    const partitions = found?.topics[0]?.partitions ?? [];
    if (partitions.length === PARTITIONS && partitions.every((p) => p.leader >= 0)) return;
    await sleep(50);
  }
}

describe('a topic created a moment ago', () => {
  afterAll(async () => {
    await withAdmin(kafka, (admin) => admin.deleteTopics({ topics: created }));
  });

  it('createTopicsWithLeaders returns once every partition answers ListOffsets, not only when the metadata names its leader', async () => {
    await withAdmin(kafka, async (admin) => {
      for (let i = 0; i < TRIES; i += 1) {
        const topic = topicName('created', i);
        await createTopicsWithLeaders(admin, [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }]);
        // KafkaJS's own call, which gives up at NOT_LEADER_FOR_PARTITION.
        const offsets = await admin.fetchTopicOffsets(topic);
        expect(offsets.map((o): [number, string] => [o.partition, o.high]).sort(([a], [b]) => a - b)).toEqual(
          Array.from({ length: PARTITIONS }, (_, p) => [p, '0']),
        );
      }
    });
  });

  it('topicOffsets asks again while a leader named in the metadata loads its partition', async () => {
    await withAdmin(kafka, async (admin) => {
      for (let i = 0; i < TRIES; i += 1) {
        const topic = topicName('offsets', i);
        await createLedByMetadata(admin, topic);
        const offsets = await topicOffsets(admin, topic);
        expect(offsets).toHaveLength(PARTITIONS);
      }
    });
  });

  it('topicOffsets throws at once an error that asking again would not mend', async () => {
    await withAdmin(kafka, async (admin) => {
      const started = Date.now();
      const error = await topicOffsets(admin, '').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(/Invalid topic/);
      expect(Date.now() - started).toBeLessThan(1000);
    });
  });
});
