import type { Kafka, Message, Producer, RecordMetadata } from 'kafkajs';

import { InputError } from '../lib/errors.js';
import { createKafka, IDEMPOTENT_PRODUCER } from '../lib/kafka.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { type Codec, SchemaRegistryClient } from '../schemas/registry.js';
import { requestProblems } from '../schemas/request-validation.js';
import type { RedemptionRequested } from '../schemas/types.js';

/**
 * A request the producer refused before sending anything: it fails the checks the pipeline would
 * dead-letter it for (schemas/request-validation.ts, the same as `redeem produce`). `problems` lists
 * each one; `index` is the request's place in a `sendAll` call.
 */
export class RequestRefusedError extends InputError {
  constructor(
    readonly requestId: string,
    readonly problems: readonly string[],
    readonly index: number | null = null,
  ) {
    super('REQUEST_INVALID', `${index === null ? `request ${requestId}` : `request ${index + 1} (${requestId})`} is invalid: ${problems.join('; ')}`);
    this.name = 'RequestRefusedError';
  }
}

export interface RedemptionProducerOptions {
  /** Kafka bootstrap brokers, e.g. ['127.0.0.1:9092']. */
  brokers: string[];
  /** The Confluent-compatible registry, e.g. 'http://127.0.0.1:8081/apis/ccompat/v7'. */
  schemaRegistryUrl: string;
  /** The requests topic; default 'redemption.requested'. */
  topic?: string;
  /** Kafka client id, also sent as the `client.id` header so a dead letter names its producer. */
  clientId?: string;
  /** Most requests `send` puts into one produce call; default 500. */
  maxBatch?: number;
  /** pino logger for KafkaJS's warnings; default: warnings and errors as JSON on stderr. */
  logger?: Logger;
}

interface Queued {
  message: Message;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * The library a checkout service uses to send RedemptionRequested events: an idempotent producer with
 * acks=all and retries (retries cannot duplicate or reorder), keyed by coupon code and partitioned by
 * murmur2 (all of a coupon's events land in one partition, in order: consumers/partition-contract.ts),
 * Avro in the Confluent wire format. A request is validated before anything is sent, and `send`
 * resolves only once the broker has acknowledged it.
 *
 * `send` is for a service handling many checkouts at once: requests sent while a produce call is in
 * flight are batched into the next one (up to `maxBatch`), in the order `send` was called, so
 * concurrency costs no extra round trips and keeps order. `sendAll` sends a given batch as one call.
 */
export class RedemptionProducer {
  private queue: Queued[] = [];
  private draining: Promise<void> | null = null;
  private closed = false;

  private constructor(
    private readonly producer: Producer,
    private readonly codec: Codec<RedemptionRequested>,
    readonly topic: string,
    private readonly headers: Record<string, string>,
    private readonly maxBatch: number,
  ) {}

  /** Connects a producer for a checkout service (see docs/clients.md, "The producer as a library"). */
  static async create(options: RedemptionProducerOptions): Promise<RedemptionProducer> {
    const topic = options.topic ?? 'redemption.requested';
    const clientId = options.clientId ?? 'redemption-producer';
    const logger = options.logger ?? createLogger('warn');
    const registry = new SchemaRegistryClient(options.schemaRegistryUrl, {}, (message) => logger.warn(message));
    const codec = await registry.codecFor<RedemptionRequested>('requested', topic);
    return RedemptionProducer.connect(createKafka(options.brokers, clientId, logger), codec, topic, { clientId, maxBatch: options.maxBatch });
  }

  /** Connects with a Kafka client and codec the caller already has (the CLI, the tests). */
  static async connect(
    kafka: Kafka,
    codec: Codec<RedemptionRequested>,
    topic: string,
    o: { clientId?: string; maxBatch?: number } = {},
  ): Promise<RedemptionProducer> {
    // One request in flight keeps file order across retries; idempotence makes the retries safe.
    const producer = kafka.producer(IDEMPOTENT_PRODUCER);
    await producer.connect();
    return new RedemptionProducer(producer, codec, topic, o.clientId === undefined ? {} : { 'client.id': o.clientId }, o.maxBatch ?? 500);
  }

  /**
   * Sends one request; resolves once the broker has acknowledged it. Throws RequestRefusedError at once
   * for an invalid request (nothing is sent; other requests are not affected).
   */
  send(request: RedemptionRequested): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the producer is disconnected'));
    let message: Message;
    try {
      message = this.messageOf(request, null);
    } catch (error) {
      return Promise.reject(error);
    }
    const acked = new Promise<void>((resolve, reject) => this.queue.push({ message, resolve, reject }));
    this.draining ??= this.drain();
    return acked;
  }

  /**
   * Sends the requests in one acknowledged produce call, in their order. All are validated first: one
   * bad request refuses the whole call (RequestRefusedError) and nothing is sent. Returns the broker's
   * acknowledgement per partition (base offset: the first of the call's messages in that partition).
   */
  async sendAll(requests: readonly RedemptionRequested[]): Promise<RecordMetadata[]> {
    const messages = requests.map((request, i) => this.messageOf(request, requests.length > 1 ? i : null));
    if (messages.length === 0) return [];
    return this.producer.send({ topic: this.topic, acks: -1, messages });
  }

  /** Waits for the requests already passed to `send`, then leaves: nothing accepted is dropped. */
  async disconnect(): Promise<void> {
    this.closed = true;
    while (this.draining) await this.draining;
    await this.producer.disconnect();
  }

  private messageOf(request: RedemptionRequested, index: number | null): Message {
    const problems = requestProblems(request);
    if (problems.length > 0) throw new RequestRefusedError(request.request_id, problems, index);
    return { key: request.coupon_code, value: this.codec.encode(request), headers: this.headers };
  }

  private async drain(): Promise<void> {
    // Let the sends of this turn of the event loop join the first batch.
    await new Promise((resolve) => setImmediate(resolve));
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          await this.producer.send({ topic: this.topic, acks: -1, messages: batch.map((q) => q.message) });
          for (const q of batch) q.resolve();
        } catch (error) {
          for (const q of batch) q.reject(error);
        }
      }
    } finally {
      this.draining = null;
    }
  }
}
