import type { Kafka } from 'kafkajs';

import { currentRanges, readRanges, topicOffsets, withAdmin } from '../lib/kafka.js';
import { murmur2Partition } from '../schemas/partitioning.js';
import type { Decoder } from '../schemas/registry.js';
import { requestProblems } from '../schemas/request-validation.js';
import type { RedemptionRequested } from '../schemas/types.js';

export interface TopicReadResult {
  messages: number;
  /** Messages in the ranges read (`messages` is less when the read was abandoned). */
  total: number;
  /** Messages the pipeline dead-letters: no value, too large, undecodable, invalid, keyed wrongly, in the wrong partition. */
  unprocessable: number;
}

/**
 * Reads a topic from its start up to the end offsets it had when the read began (or `stops`), partition by
 * partition in offset order, under a throwaway consumer group that commits nothing. Calls `onRequest`
 * for every message the pipeline would decide.
 */
export interface ReadRequestsOptions {
  kafka: Kafka;
  topic: string;
  decoder: Decoder<RedemptionRequested>;
  /** The consumer's MAX_MESSAGE_BYTES: a larger message is one it dead-letters. */
  maxMessageBytes: number;
  /** `timestamp`: the message's time in the topic (epoch millis). */
  onRequest(request: RedemptionRequested, partition: number, offset: number, timestamp: number): void;
  /** Called after each batch. @defaultValue nothing */
  onProgress?(messages: number, total: number): void;
  /** Read only up to these offsets (exclusive) instead of the partition ends. @defaultValue the ends */
  stops?: ReadonlyMap<number, number>;
  /** Ends the read early once it settles (see readRanges). @defaultValue never */
  abandon?: Promise<unknown>;
}

export async function readRequestsTopic(o: ReadRequestsOptions): Promise<TopicReadResult> {
  const { kafka, topic, decoder, maxMessageBytes, onRequest, onProgress = () => {}, stops, abandon } = o;
  // The partition contract is checked against every partition of the topic, empty or not.
  const partitions = (await withAdmin(kafka, (admin) => topicOffsets(admin, topic))).length;
  const ranges = await currentRanges(kafka, topic, stops);
  const total = ranges.reduce((sum, r) => sum + r.to - r.from, 0);
  const result: TopicReadResult = { messages: 0, total, unprocessable: 0 };
  await readRanges({
    kafka,
    topic,
    ranges,
    abandon,
    onChunk: async ({ partition, messages }) => {
      for (const message of messages) {
        result.messages += 1;
        const request = await processable(message.key, message.value, decoder, maxMessageBytes);
        // The partition contract: a request outside its key's murmur2 partition is dead-lettered too.
        if (request && murmur2Partition(message.key!, partitions) === partition)
          onRequest(request, partition, Number(message.offset), Number(message.timestamp));
        else result.unprocessable += 1;
      }
      onProgress(result.messages, total);
    },
  });
  return result;
}

async function processable(
  key: Buffer | null,
  value: Buffer | null,
  decoder: Decoder<RedemptionRequested>,
  maxMessageBytes: number,
): Promise<RedemptionRequested | null> {
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
