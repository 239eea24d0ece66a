import type { KafkaMessage } from 'kafkajs';

import { type DeadLetterCode, UnprocessableMessageError } from '../lib/errors.js';
import type { Decoder } from '../schemas/registry.js';
import { requestProblems } from '../schemas/request-validation.js';
import type { RedemptionRequested } from '../schemas/types.js';
import { assertPlacement } from './partition-contract.js';
import type { SourcedRequest } from './types.js';

/** A message the pipeline will never be able to process, and why. */
export interface DeadLetter {
  message: KafkaMessage;
  topic: string;
  partition: number;
  code: DeadLetterCode;
  reason: string;
}

export interface DecodedBatch {
  requests: SourcedRequest[];
  deadLetters: DeadLetter[];
}

/**
 * Decodes a batch. What cannot be a valid request (null value, oversized, not the wire format, unknown
 * schema id, a record that fails validation) becomes a dead letter; anything else that goes wrong, such
 * as the registry not answering, is thrown so the batch is retried.
 */
export async function decodeBatch(
  messages: readonly KafkaMessage[],
  topic: string,
  partition: number,
  decoder: Decoder<RedemptionRequested>,
  maxMessageBytes: number,
  /** The topic's partition count, to check that each request sits where its key hashes (partition-contract.ts). */
  partitionCount?: number,
): Promise<DecodedBatch> {
  const requests: SourcedRequest[] = [];
  const deadLetters: DeadLetter[] = [];
  for (const message of messages) {
    try {
      // Without a promise once the message's schema id is known: nearly every message.
      const request = decodeKnownOne(message, decoder, maxMessageBytes) ?? (await decodeOne(message, decoder, maxMessageBytes));
      // mutant: partition-contract-off
      assertPlacement(message, request, partition, partitionCount);
      requests.push({ request, topic, partition, offset: Number(message.offset) });
    } catch (error) {
      if (!(error instanceof UnprocessableMessageError)) throw error;
      deadLetters.push({ message, topic, partition, code: error.code, reason: error.message });
    }
  }
  return { requests, deadLetters };
}

async function decodeOne(message: KafkaMessage, decoder: Decoder<RedemptionRequested>, maxMessageBytes: number): Promise<RedemptionRequested> {
  return checked(message, await decoder.decode(boundedValue(message, maxMessageBytes)));
}

/** `decodeOne` for a message whose schema id the decoder knows already; undefined for the others. */
function decodeKnownOne(message: KafkaMessage, decoder: Decoder<RedemptionRequested>, maxMessageBytes: number): RedemptionRequested | undefined {
  const request = decoder.decodeKnown?.(boundedValue(message, maxMessageBytes));
  return request === undefined ? undefined : checked(message, request);
}

function boundedValue(message: KafkaMessage, maxMessageBytes: number): Buffer {
  const value = message.value;
  if (value === null) throw new UnprocessableMessageError('MESSAGE_UNDECODABLE', 'the message has no value (null)');
  if (value.length > maxMessageBytes) {
    throw new UnprocessableMessageError('MESSAGE_TOO_LARGE', `the value is ${value.length} bytes, over MAX_MESSAGE_BYTES (${maxMessageBytes})`);
  }
  return value;
}

/** The decoded request, once it is valid and keyed by its coupon code. */
function checked(message: KafkaMessage, request: RedemptionRequested): RedemptionRequested {
  const problems = requestProblems(request);
  if (problems.length > 0) throw new UnprocessableMessageError('REQUEST_INVALID', `invalid request: ${problems.join('; ')}`);
  const key = message.key?.toString();
  if (key !== request.coupon_code) {
    // Keyed by anything else, the request may sit in another partition than its coupon's other events.
    throw new UnprocessableMessageError('REQUEST_INVALID', `message key "${key ?? ''}" is not the coupon code "${request.coupon_code}"`);
  }
  return request;
}
