/**
 * A send that resolves only once every partition it went to has acknowledged its messages (the client's
 * promise, kept whatever KafkaJS is installed), and the errors a send ends with: a deadline passed, a topic
 * missing.
 */
import type { Message, Producer, RecordMetadata } from 'kafkajs';

import { RedemptionError } from '../lib/errors.js';
import { isRetriableKafkaError } from '../lib/retry.js';

/** A message with its partition chosen once, before the first attempt: a re-send goes to the same one. */
export interface AimedMessage extends Message {
  partition: number;
}

export interface AcknowledgedSendOptions {
  /** Epoch ms by which every message must be acknowledged; Infinity: no deadline. */
  deadline: number;
  /** The error to throw when the deadline passes (it may say why: a missing topic). */
  timeoutError(): Promise<Error>;
  /** Called before messages are sent again, with how many and to which partitions. */
  onResend?(messages: number, partitions: readonly number[]): void;
}

const RESEND_BACKOFF_MS = 200;

/**
 * Sends messages to fixed partitions and resolves only once each of those partitions has acknowledged
 * them (acks=all), whatever the KafkaJS underneath does. The produce call answers per partition; a
 * partition missing from the answer, or answered with an error, has its messages sent again, to the
 * same partition, until the deadline.
 *
 * Why: unpatched KafkaJS 2.2.4 kept a send's acknowledgements per broker across its retries, so after a
 * leader change a partition whose new leader had already answered for another one was skipped, and the
 * send resolved without it (patches/kafkajs+2.2.4.patch fixes that in this repository only; an installed
 * client runs on whatever KafkaJS the checkout has). The check here holds either way. A message sent again
 * may be in the topic twice (a produce that failed late may have been written): harmless, the pipeline
 * deduplicates by request id.
 *
 * The messages carry their partitions so that a retry can never move one (KafkaJS otherwise partitions
 * again on every attempt: a keyless message could land in two partitions, or in none).
 */
export async function sendAcknowledged(
  producer: Producer,
  topic: string,
  messages: readonly AimedMessage[],
  o: AcknowledgedSendOptions,
): Promise<Acknowledged> {
  const acknowledged = new Map<number, RecordMetadata>();
  const offsets: number[] = new Array<number>(messages.length).fill(-1);
  let pending = messages.map((_, i) => i);
  while (pending.length > 0) {
    const remaining = o.deadline - Date.now();
    if (remaining <= 0) throw await o.timeoutError();
    let answer: RecordMetadata[];
    try {
      const sent = producer.send({ topic, acks: -1, messages: pending.map((i) => messages[i]!) });
      answer = Number.isFinite(remaining) ? await beforeDeadline(sent, remaining) : await sent;
    } catch (error) {
      if (error === DEADLINE) throw await o.timeoutError();
      if (!isRetriableKafkaError(error)) throw error;
      answer = [];
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(RESEND_BACKOFF_MS, o.deadline - Date.now()))));
    }
    const written = new Map<number, number>();
    for (const r of answer) {
      if (r.topicName !== topic || r.errorCode !== 0) continue;
      written.set(r.partition, Number(r.baseOffset));
      if (!acknowledged.has(r.partition)) acknowledged.set(r.partition, r);
    }
    // A partition's messages of one produce are written one after the other from its base offset.
    const next = new Map(written);
    for (const i of pending) {
      const offset = next.get(messages[i]!.partition);
      if (offset === undefined) continue;
      offsets[i] = offset;
      next.set(messages[i]!.partition, offset + 1);
    }
    pending = pending.filter((i) => !written.has(messages[i]!.partition));
    if (pending.length > 0)
      o.onResend?.(
        pending.length,
        [...new Set(pending.map((i) => messages[i]!.partition))].sort((a, b) => a - b),
      );
  }
  return { acks: [...acknowledged.values()].sort((a, b) => a.partition - b.partition), offsets };
}

/** Per partition, the first answer that acknowledged it; per message (in input order), its offset. */
export interface Acknowledged {
  acks: RecordMetadata[];
  offsets: number[];
}

const DEADLINE = Symbol('deadline');

/** The promise's outcome, or DEADLINE thrown after `ms`; a late rejection is absorbed (nobody waits for it). */
function beforeDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  work.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(DEADLINE), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** A send that was not acknowledged in time: the requests may or may not be in the topic. */
export class SendTimeoutError extends RedemptionError {
  constructor(
    readonly topic: string,
    readonly timeoutMs: number,
    cause?: unknown,
  ) {
    super(
      'SEND_TIMEOUT',
      `the requests were not acknowledged by Kafka within ${timeoutMs} ms (topic ${topic}); some may still be written: sending them again is safe (the pipeline deduplicates by request id)`,
      { retriable: true, cause },
    );
    this.name = 'SendTimeoutError';
  }
}

/** The topic a client was made for does not exist (the pipeline's topics are made by `redeem consume` or `redeem produce`). */
export class TopicMissingError extends RedemptionError {
  constructor(readonly topic: string) {
    super(
      'TOPIC_MISSING',
      `Kafka topic ${topic} does not exist: the pipeline's topics are made by \`redeem consume\` or \`redeem produce\` (a client never creates topics)`,
      { retriable: false },
    );
    this.name = 'TopicMissingError';
  }
}
