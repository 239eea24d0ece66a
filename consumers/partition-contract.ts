/**
 * The partition contract: a request sits in the partition its key hashes to with murmur2, as Java's
 * default partitioner computes it, `toPositive(murmur2(keyBytes)) % numPartitions`. That is what
 * KafkaJS's default partitioner, the Java client and librdkafka's `murmur2_random` do. A producer with
 * another partitioner (librdkafka's default `consistent_random` hashes with CRC32) spreads one coupon's
 * requests over several partitions, where different members decide them in no particular order: the
 * pipeline's per-coupon order would be lost without anyone noticing. So the consumer checks.
 *
 * The hash is the contract's (schemas/partitioning.ts), the same the project's producers and the
 * independent verification use.
 */
import { isUtf8 } from 'node:buffer';

import type { IHeaders, KafkaMessage } from 'kafkajs';

import { UnprocessableMessageError } from '../lib/errors.js';
import { murmur2Partition } from '../schemas/partitioning.js';

/**
 * Headers a producer may set to say who it is. Kafka records do not carry the producing client's id, so
 * a misplaced record can only be traced back if its producer names itself; the examples set `client.id`.
 */
export const CLIENT_ID_HEADERS = ['client.id', 'client_id', 'clientId'] as const;

export function producerClientId(headers: IHeaders | undefined): string | null {
  for (const name of CLIENT_ID_HEADERS) {
    const value = headers?.[name];
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) return first.toString();
  }
  return null;
}

/**
 * Null when the record is where its key says, else why not (for the dead letter's reason and the log).
 * A record without a key is not checked here: the key check (key = coupon code) refuses it first.
 */
export function misplacement(key: Buffer | null, partition: number, partitionCount: number, who: { clientId: string | null; source?: string }): string | null {
  if (key === null) return null;
  const expected = murmur2Partition(key, partitionCount);
  if (expected === partition) return null;
  const producer = [
    who.clientId !== null ? `producer client.id "${who.clientId}"` : 'producer sent no client.id header',
    who.source !== undefined ? `source "${who.source}"` : null,
  ]
    .filter((s) => s !== null)
    .join(', ');
  return (
    `key "${key.toString()}" belongs in partition ${expected} of ${partitionCount} (murmur2, as Java and KafkaJS partition) but was found in partition ${partition}: ` +
    `its producer does not partition by murmur2 (librdkafka needs partitioner=murmur2_random); ${producer}`
  );
}

/**
 * Throws the dead letter WRONG_PARTITION for a decoded, valid request that is not where its key says.
 * Called last, after every other check, so that a WRONG_PARTITION dead letter is a good request in the
 * wrong place, which `redeem dlq redrive` can send again once its producer is fixed.
 * `partitionCount` undefined: the caller does not know the topic's partitions, nothing is checked.
 */
export function assertPlacement(
  message: KafkaMessage,
  /** The request the message holds: its key reads as the coupon code (decode.ts checked it). */
  request: { source: string; coupon_code: string },
  partition: number,
  partitionCount: number | undefined,
): void {
  const { key } = message;
  if (partitionCount === undefined || key === null) return;
  // The common case checked first: naming the producer (its headers read) is for the misplaced only.
  // Valid UTF-8 bytes are the UTF-8 of their reading, the coupon code, whose string is a cache key
  // that costs nothing to look up (bytes are read into one first).
  if (murmur2Partition(isUtf8(key) ? request.coupon_code : key, partitionCount) === partition) return;
  const wrong = misplacement(key, partition, partitionCount, { clientId: producerClientId(message.headers), source: request.source });
  if (wrong !== null) throw new UnprocessableMessageError('WRONG_PARTITION', wrong);
}
