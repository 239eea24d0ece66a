import { createRequire } from 'node:module';

import { describe, expect, it } from 'vitest';

/**
 * KafkaJS's sendMessages, as patches/kafkajs+2.2.4.patch leaves it, driven by a simulated cluster: the
 * case behind the acknowledged requests the broker failovers lost (kafka-failover.test.ts shows it on
 * the 3-node cluster). One send() to two partitions led by nodes 1 and 2; node 1 answers, node 2 fails
 * with "not the leader" because partition 1 moved to node 1. Unpatched, KafkaJS kept acknowledgements
 * per broker: the retry found partition 1 on node 1, which had already answered, skipped it, and send()
 * resolved without partition 1 ever being written.
 */
const require = createRequire(import.meta.url);
type Send = (o: {
  acks: number;
  timeout: number;
  topicMessages: { topic: string; messages: { partition: number; value: string }[] }[];
}) => Promise<{ topicName: string; partition: number; errorCode: number }[]>;
const createSendMessages = require('kafkajs/src/producer/sendMessages') as (deps: Record<string, unknown>) => Send;
const createRetry = require('kafkajs/src/retry') as (o: Record<string, number>) => unknown;
const { KafkaJSProtocolError } = require('kafkajs/src/errors') as { KafkaJSProtocolError: new (e: unknown) => Error };
const { createErrorFromCode } = require('kafkajs/src/protocol/error') as { createErrorFromCode(code: number): unknown };

const NOT_LEADER_FOR_PARTITION = 6;
const TOPIC = 't';

interface TopicData {
  topic: string;
  partitions: { partition: number; messages: unknown[] }[];
}

function simulatedCluster() {
  let leaders: Record<number, number> = { 0: 1, 1: 2 };
  const written: { node: number; partition: number; messages: number }[] = [];
  let node2Failed = false;
  const broker = (node: number) => ({
    nodeId: node,
    produce: async ({ topicData }: { topicData: TopicData[] }) => {
      if (node === 2 && !node2Failed) {
        // Node 2 answers after node 1 did: partition 1 has moved to node 1.
        await new Promise((resolve) => setTimeout(resolve, 20));
        node2Failed = true;
        leaders = { 0: 1, 1: 1 };
        throw new KafkaJSProtocolError(createErrorFromCode(NOT_LEADER_FOR_PARTITION));
      }
      const partitions = topicData.flatMap((t) => t.partitions);
      for (const p of partitions) written.push({ node, partition: p.partition, messages: p.messages.length });
      return { topics: [{ topicName: TOPIC, partitions: partitions.map((p) => ({ partition: p.partition, errorCode: 0, baseOffset: '0' })) }] };
    },
  });
  const brokers = new Map([1, 2].map((n) => [n, broker(n)]));
  const cluster = {
    targetTopics: new Set([TOPIC]),
    refreshMetadataIfNecessary: async () => {},
    refreshMetadata: async () => {},
    addMultipleTargetTopics: async () => {},
    isConnected: () => true,
    removeBroker: () => {},
    findTopicPartitionMetadata: () =>
      [0, 1].map((partitionId) => ({ partitionId, leader: leaders[partitionId], partitionErrorCode: 0, replicas: [], isr: [] })),
    findLeaderForPartitions: (_topic: string, partitions: string[]) =>
      partitions.reduce<Record<number, number[]>>((byLeader, id) => {
        const leader = leaders[Number(id)]!;
        (byLeader[leader] ??= []).push(Number(id));
        return byLeader;
      }, {}),
    findBroker: async ({ nodeId }: { nodeId: string | number }) => brokers.get(Number(nodeId))!,
  };
  return { cluster, written };
}

const eosManager = {
  acquireBrokerLock: async () => {},
  releaseBrokerLock: async () => {},
  isTransactional: () => false,
  getSequence: () => 0,
  updateSequence: () => {},
  getProducerId: () => -1,
  getProducerEpoch: () => 0,
  getTransactionalId: () => undefined,
};
const logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

describe('the KafkaJS patch: a send() is acknowledged per partition', () => {
  it('writes a partition whose leader moved to a broker that already answered for another, before send() resolves', async () => {
    const { cluster, written } = simulatedCluster();
    const send = createSendMessages({
      logger,
      cluster,
      eosManager,
      partitioner: ({ message }: { message: { partition: number } }) => message.partition,
      retrier: createRetry({ retries: 5, initialRetryTime: 5, maxRetryTime: 20, factor: 0, multiplier: 1 }),
    });
    const messages = [0, 1].flatMap((partition) => Array.from({ length: 3 }, (_, i) => ({ partition, value: `${partition}-${i}` })));
    const acknowledged = await send({ acks: -1, timeout: 1000, topicMessages: [{ topic: TOPIC, messages }] });

    expect(acknowledged.map((a) => a.partition).sort()).toEqual([0, 1]);
    expect(written).toEqual([
      { node: 1, partition: 0, messages: 3 },
      { node: 1, partition: 1, messages: 3 },
    ]);
  });
});
