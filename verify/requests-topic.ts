import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { murmur2Partition } from '../consumers/partition-contract.js';
import type { Decoder } from '../schemas/registry.js';
import { requestProblems } from '../schemas/request-validation.js';
import type { RedemptionRequested } from '../schemas/types.js';

export interface TopicReadResult {
  messages: number;
  /** Messages the pipeline dead-letters: no value, too large, undecodable, invalid, keyed wrongly, in the wrong partition. */
  unprocessable: number;
}

/**
 * Reads a topic from its start up to the end offsets it had when the read began (or `stops`), partition by
 * partition in offset order, under a throwaway consumer group that commits nothing. Calls `onRequest`
 * for every message the pipeline would decide.
 */
export async function readRequestsTopic(
  kafka: Kafka,
  topic: string,
  decoder: Decoder<RedemptionRequested>,
  maxMessageBytes: number,
  onRequest: (request: RedemptionRequested, partition: number, offset: number) => void,
  onProgress: (messages: number, total: number) => void = () => {},
  /** Read only up to these offsets (exclusive) instead of the partition ends. */
  stops?: ReadonlyMap<number, number>,
): Promise<TopicReadResult> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<number, number>();
  const starts = new Map<number, number>();
  try {
    for (const o of await admin.fetchTopicOffsets(topic)) {
      ends.set(o.partition, Math.min(Number(o.high), stops?.get(o.partition) ?? Number.MAX_SAFE_INTEGER));
      starts.set(o.partition, Number(o.low));
    }
  } finally {
    await admin.disconnect();
  }
  const total = [...ends].reduce((sum, [p, end]) => sum + end - starts.get(p)!, 0);
  const result: TopicReadResult = { messages: 0, unprocessable: 0 };
  const remaining = new Set([...ends].filter(([p, end]) => end > starts.get(p)!).map(([p]) => p));
  if (remaining.size === 0) return result;

  const consumer = kafka.consumer({ groupId: `redeem-verify-${randomBytes(4).toString('hex')}`, maxWaitTimeInMs: 200, maxBytes: 8 << 20 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let finish: () => void = () => {};
    const done = new Promise<void>((resolve) => (finish = resolve));
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const end = ends.get(batch.partition)!;
        for (const message of batch.messages) {
          const offset = Number(message.offset);
          if (offset >= end) break;
          result.messages += 1;
          const request = await processable(message.key, message.value, decoder, maxMessageBytes);
          // The partition contract: a request outside its key's murmur2 partition is dead-lettered too.
          if (request && murmur2Partition(message.key!, ends.size) === batch.partition) onRequest(request, batch.partition, offset);
          else result.unprocessable += 1;
          if (offset === end - 1) remaining.delete(batch.partition);
        }
        onProgress(result.messages, total);
        if (remaining.size === 0) finish();
      },
    });
    await done;
  } finally {
    await consumer.disconnect();
  }
  return result;
}

async function processable(key: Buffer | null, value: Buffer | null, decoder: Decoder<RedemptionRequested>, maxMessageBytes: number): Promise<RedemptionRequested | null> {
  if (value === null || value.length > maxMessageBytes) return null;
  let request: RedemptionRequested;
  try {
    request = await decoder.decode(value);
  } catch (error) {
    if ((error as { retriable?: boolean }).retriable) throw error;
    return null;
  }
  if (requestProblems(request).length > 0 || key?.toString() !== request.coupon_code) return null;
  return request;
}
