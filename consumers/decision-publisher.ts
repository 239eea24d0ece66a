import type { Admin, IHeaders, Kafka, Message, Producer } from 'kafkajs';

import { deadLetterTopic } from '../lib/config.js';
import { IDEMPOTENT_PRODUCER } from '../lib/kafka.js';
import { CachedMurmur2Partitioner } from '../schemas/partitioning.js';
import type { Codec } from '../schemas/registry.js';
import type { RedemptionDecided } from '../schemas/types.js';
import type { DeadLetter } from './decode.js';

/** What the broker takes when a topic sets no `max.message.bytes` of its own (Kafka's default). */
const BROKER_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
/**
 * A dead letter carries at most this much of the original key or value (and at most a quarter of a
 * produce call, so that several always fit one); beyond it a truncated copy, the original staying in
 * the source topic.
 */
export const DEAD_LETTER_CARRY_BYTES = 256 * 1024;
/** What a truncated copy keeps of the original: enough to recognise it. */
export const TRUNCATED_COPY_BYTES = 1024;
const MAX_REASON_CHARS = 2000;

/** One message to produce, with the bytes it adds to a record batch (key, value, headers). */
interface Outgoing {
  topic: string;
  message: Message;
  bytes: number;
}

/** A flush's messages, waiting for the produce that carries them. */
interface WaitingPublish {
  outgoing: Outgoing[];
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Publishes a flush's audit records and dead letters, acknowledged (acks=all), in as few produce calls
 * as fit under the broker's limit. A dead letter keeps the original key and value, or a truncated copy
 * of them when they are too large to carry (headers then give the original's size and place); its
 * headers say why and where it came from. A produce is never larger than the topics accept, so a
 * hostile record cannot make its own dead letter unpublishable.
 */
export class DecisionPublisher {
  /** Publishes that arrived while a produce was in flight: the next produce carries them all. */
  private waiting: WaitingPublish[] = [];
  private sending = false;

  private constructor(
    private readonly producer: Producer,
    private readonly codec: Codec<RedemptionDecided>,
    private readonly auditTopic: string,
    private readonly consumerId: string,
    /** Most bytes of messages in one produce call: well under the smallest topic limit. */
    private readonly maxCallBytes: number,
  ) {}

  static async connect(
    kafka: Kafka,
    codec: Codec<RedemptionDecided>,
    auditTopic: string,
    requestTopic: string,
    consumerId: string,
  ): Promise<DecisionPublisher> {
    const limit = await smallestMessageLimit(kafka, [auditTopic, deadLetterTopic(requestTopic)]);
    const producer = kafka.producer({ ...IDEMPOTENT_PRODUCER, createPartitioner: CachedMurmur2Partitioner });
    await producer.connect();
    // A record batch adds its own header and per-record framing: keep a quarter of the limit spare.
    return new DecisionPublisher(producer, codec, auditTopic, consumerId, Math.floor(limit * 0.75));
  }

  /**
   * Publishes the records and dead letters of one flush; resolves once the broker acknowledged them.
   * While a produce is in flight, the publishes that arrive wait and then go together in one produce
   * (group commit): the producer has one request in flight (idempotent, ordered), so concurrent flushes'
   * produces would otherwise queue one behind the other, each a round trip. A flush's partitions are its
   * own (the coalescer runs one flush per partition at a time), so merging flushes reorders nothing in a
   * partition. When a produce carrying several publishes fails, each is produced again on its own, and
   * fails only with its own messages' error (each flush retries its own).
   */
  publish(records: readonly RedemptionDecided[], deadLetters: readonly DeadLetter[]): Promise<void> {
    const outgoing: Outgoing[] = records.map((r) => {
      const value = this.codec.encode(r);
      return { topic: this.auditTopic, message: { key: r.coupon_code, value }, bytes: Buffer.byteLength(r.coupon_code) + value.length + 64 };
    });
    // mutant: dead-letters-dropped
    for (const dl of deadLetters) outgoing.push(deadLetterMessage(dl, this.consumerId, Math.min(DEAD_LETTER_CARRY_BYTES, Math.floor(this.maxCallBytes / 4))));
    if (outgoing.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ outgoing, resolve, reject });
      if (!this.sending) void this.sendWaiting();
    });
  }

  private async sendWaiting(): Promise<void> {
    this.sending = true;
    while (this.waiting.length > 0) {
      const group = this.waiting.splice(0);
      try {
        await this.produce(group.length === 1 ? group[0]!.outgoing : group.flatMap((p) => p.outgoing));
        for (const p of group) p.resolve();
      } catch (error) {
        if (group.length === 1) group[0]!.reject(error);
        // Each publish of the group alone, so that one flush's refused message fails that flush only.
        else for (const p of group) await this.produce(p.outgoing).then(p.resolve, p.reject);
      }
    }
    this.sending = false;
  }

  private async produce(outgoing: readonly Outgoing[]): Promise<void> {
    for (const call of packCalls(outgoing, this.maxCallBytes)) {
      const byTopic = new Map<string, Message[]>();
      for (const o of call) {
        // Appended in place: copying the list for each message cost a flush of 2,000 records 2 million copies.
        const messages = byTopic.get(o.topic);
        if (messages) messages.push(o.message);
        else byTopic.set(o.topic, [o.message]);
      }
      await this.producer.sendBatch({ topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })), acks: -1 });
    }
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }
}

/** Splits messages, in order, into calls of at most `maxBytes` each (a single message always goes). */
export function packCalls<T extends { bytes: number }>(items: readonly T[], maxBytes: number): T[][] {
  const calls: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const item of items) {
    if (current.length > 0 && size + item.bytes > maxBytes) {
      calls.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += item.bytes;
  }
  if (current.length > 0) calls.push(current);
  return calls;
}

/** The dead letter of `dl`: the original key and value, or truncated copies when larger than `carryBytes`. */
export function deadLetterMessage(dl: DeadLetter, consumerId: string, carryBytes: number): Outgoing {
  const reason = dl.reason.length > MAX_REASON_CHARS ? `${dl.reason.slice(0, MAX_REASON_CHARS)}... (${dl.reason.length} characters)` : dl.reason;
  const headers: IHeaders = {
    'dlq.code': dl.code,
    'dlq.reason': reason,
    'dlq.topic': dl.topic,
    'dlq.partition': String(dl.partition),
    'dlq.offset': dl.message.offset,
    'dlq.consumer': consumerId,
  };
  const { key, value } = dl.message;
  const keyTooLarge = key !== null && key.length > carryBytes;
  const valueTooLarge = value !== null && value.length > carryBytes;
  if (keyTooLarge || valueTooLarge) headers['dlq.truncated'] = 'true';
  if (keyTooLarge) headers['dlq.original-key-bytes'] = String(key.length);
  if (valueTooLarge) headers['dlq.original-bytes'] = String(value.length);
  const carriedKey = keyTooLarge ? key.subarray(0, TRUNCATED_COPY_BYTES) : key;
  const carriedValue = valueTooLarge ? value.subarray(0, TRUNCATED_COPY_BYTES) : value;
  const headerBytes = Object.entries(headers).reduce((sum, [name, v]) => sum + name.length + Buffer.byteLength(String(v)), 0);
  return {
    topic: deadLetterTopic(dl.topic),
    message: { key: carriedKey, value: carriedValue, headers },
    bytes: (carriedKey?.length ?? 0) + (carriedValue?.length ?? 0) + headerBytes + 64,
  };
}

/** The smallest `max.message.bytes` of these topics (the broker's default where a topic sets none). */
async function smallestMessageLimit(kafka: Kafka, topics: readonly string[]): Promise<number> {
  const admin: Admin = kafka.admin();
  await admin.connect();
  try {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: topics.map((name) => ({ type: 2 /* ConfigResourceTypes.TOPIC */, name, configNames: ['max.message.bytes'] })),
    });
    const limits = resources.flatMap((r) => r.configEntries.filter((e) => e.configName === 'max.message.bytes').map((e) => Number(e.configValue)));
    const valid = limits.filter((n) => Number.isFinite(n) && n > 0);
    return valid.length > 0 ? Math.min(...valid) : BROKER_DEFAULT_MAX_MESSAGE_BYTES;
  } catch (error) {
    // A run that publishes nothing (a rebuild) may not have the topics; the broker's default then holds.
    if ((error as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION') return BROKER_DEFAULT_MAX_MESSAGE_BYTES;
    throw error;
  } finally {
    await admin.disconnect();
  }
}
