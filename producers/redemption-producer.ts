/**
 * The client a checkout service embeds (`RedemptionClient`, alias `RedemptionProducer`): it validates,
 * sends and, with `redeem()`, waits for a request's decision. See docs/clients.md.
 */
import type { Admin, Kafka, KafkaConfig, Producer, ProducerConfig, RecordMetadata } from 'kafkajs';

import { InputError } from '../lib/errors.js';
import { createKafka, IDEMPOTENT_PRODUCER, withAdmin } from '../lib/kafka.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { murmur2Partition } from '../schemas/partitioning.js';
import { type Codec, type Decoder, SchemaRegistryClient } from '../schemas/registry.js';
import { requestProblems } from '../schemas/request-validation.js';
import type { RedemptionDecided, RedemptionRequested } from '../schemas/types.js';
import { type Acknowledged, type AimedMessage, sendAcknowledged, SendTimeoutError, TopicMissingError } from './acknowledged-send.js';
import { DecisionWaiter, type RedemptionOutcome } from './decision-waiter.js';

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

export interface RedemptionClientOptions {
  /** Kafka bootstrap brokers, e.g. ['127.0.0.1:9092']. */
  brokers: string[];
  /** The Confluent-compatible registry, e.g. 'http://127.0.0.1:8081/apis/ccompat/v7'. */
  schemaRegistryUrl: string;
  /** The requests topic; default 'redemption.requested'. */
  topic?: string;
  /** The audit topic `redeem()` reads decisions from; default 'redemption.decided'. */
  auditTopic?: string;
  /**
   * How long `redeem()` waits for the decision unless told otherwise.
   * @defaultValue 5000
   */
  redeemTimeoutMs?: number;
  /** Kafka client id, also sent as the `client.id` header so a dead letter names its producer. */
  clientId?: string;
  /** Most requests `send` puts into one produce call; default 500. */
  maxBatch?: number;
  /** pino logger for KafkaJS's warnings; default: warnings and errors as JSON on stderr. */
  logger?: Logger;
  /**
   * How long a `send` (or `sendAll`) may take until every request is acknowledged; past it, it fails
   * with SendTimeoutError (or TopicMissingError when the topic is gone). `connect` (the project's own
   * tools) waits without a deadline unless given one.
   * @defaultValue 30000
   */
  sendTimeoutMs?: number;
  /** KafkaJS `ssl` options, for a broker with TLS. @defaultValue plaintext */
  ssl?: KafkaConfig['ssl'];
  /** KafkaJS `sasl` options (e.g. SCRAM-SHA-512 as the checkout identity, docs/security.md). @defaultValue none */
  sasl?: KafkaConfig['sasl'];
}

/** Where a request was written. */
export interface SentPosition {
  partition: number;
  offset: number;
}

interface Queued {
  message: AimedMessage | Omit<AimedMessage, 'partition'>;
  resolve(position: SentPosition): void;
  reject(error: unknown): void;
}

/**
 * With a send deadline, the producer's retries end too (KafkaJS must not go on retrying a missing topic
 * for ever behind a send that has already failed); without one (the project's tools), KafkaJS retries
 * without limit, as IDEMPOTENT_PRODUCER does, and rides out a broker outage inside one send.
 */
const DEADLINED_PRODUCER: ProducerConfig = { ...IDEMPOTENT_PRODUCER, retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 5000 } };
/** How long a topic's partition count is trusted before it is asked again (partitions can be added). */
const PARTITION_COUNT_MAX_AGE_MS = 60_000;
const DEFAULT_SEND_TIMEOUT_MS = 30_000;
const DEFAULT_REDEEM_TIMEOUT_MS = 5000;

/** Where `redeem()` reads decisions: the audit topic, and how its records are decoded. */
export interface AuditSource {
  topic: string;
  decoder: Decoder<RedemptionDecided>;
  /** @defaultValue 5000 */
  redeemTimeoutMs?: number;
}

/**
 * The library a checkout service uses to ask for redemptions: `send` a RedemptionRequested event, or
 * `redeem` it and wait for its decision.
 *
 * Sending: an idempotent producer with acks=all and retries (retries cannot duplicate or reorder), keyed
 * by coupon code and partitioned by murmur2 (all of a coupon's events land in one partition, in order:
 * schemas/partitioning.ts), Avro in the Confluent wire format. A request is validated before
 * anything is sent, and `send` resolves only once every partition it went to has acknowledged it
 * (acknowledged-send.ts: checked by the client itself, whatever KafkaJS the checkout installed).
 * Requests sent while a produce call is in flight are batched into the next one (up to `maxBatch`), in
 * the order `send` was called, so concurrency costs no extra round trips and keeps order. `sendAll`
 * sends a given batch as one call.
 *
 * Redeeming: `redeem` sends, then answers with the request's outcome from the audit stream
 * (decision-waiter.ts: one reader per client, started by the first `redeem`).
 */
export class RedemptionClient {
  private queue: Queued[] = [];
  private draining: Promise<void> | null = null;
  private closed = false;
  private partitions: { count: number; at: number } | null = null;
  private nextKeyless = 0;
  private decisions: Promise<DecisionWaiter> | null = null;
  /** Messages sent again because a produce's answer lacked their partition (see acknowledged-send.ts). */
  resentMessages = 0;

  private constructor(
    private readonly producer: Producer,
    private readonly admin: Admin,
    private readonly codec: Codec<RedemptionRequested>,
    readonly topic: string,
    private readonly headers: Record<string, string>,
    private readonly maxBatch: number,
    private readonly sendTimeoutMs: number,
    private readonly logger: Logger | null,
    private readonly kafka: Kafka,
    private readonly clientId: string,
    private readonly audit: AuditSource | null,
  ) {}

  /** Connects a client for a checkout service (see docs/clients.md). */
  static async create(options: RedemptionClientOptions): Promise<RedemptionClient> {
    const topic = options.topic ?? 'redemption.requested';
    const clientId = options.clientId ?? 'redemption-producer';
    const logger = options.logger ?? createLogger('warn');
    const registry = new SchemaRegistryClient(options.schemaRegistryUrl, {}, (message) => logger.warn(message));
    const kafka = createKafka(options.brokers, clientId, logger, { ssl: options.ssl, sasl: options.sasl });
    // Before registering anything for it: a missing topic fails here, by name.
    await withAdmin(kafka, async (admin) => {
      if (!(await admin.listTopics()).includes(topic)) throw new TopicMissingError(topic);
    });
    const codec = await registry.codecFor<RedemptionRequested>('requested', topic);
    const audit = {
      topic: options.auditTopic ?? 'redemption.decided',
      decoder: registry.decoderFor<RedemptionDecided>('decided'),
      redeemTimeoutMs: options.redeemTimeoutMs,
    };
    return RedemptionClient.connect(kafka, codec, topic, {
      clientId,
      audit,
      maxBatch: options.maxBatch,
      sendTimeoutMs: options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS,
      logger,
    });
  }

  /**
   * Connects with a Kafka client and codec the caller already has (the CLI, the tests). Fails with
   * TopicMissingError when the topic does not exist.
   */
  static async connect(
    kafka: Kafka,
    codec: Codec<RedemptionRequested>,
    topic: string,
    o: { clientId?: string; maxBatch?: number; sendTimeoutMs?: number; logger?: Logger; audit?: AuditSource } = {},
  ): Promise<RedemptionClient> {
    const admin = kafka.admin();
    await admin.connect();
    const sendTimeoutMs = o.sendTimeoutMs ?? Infinity;
    // Idempotent, one request in flight: retries keep order and cannot duplicate.
    const producer = kafka.producer(Number.isFinite(sendTimeoutMs) ? DEADLINED_PRODUCER : IDEMPOTENT_PRODUCER);
    try {
      const client = new RedemptionClient(
        producer,
        admin,
        codec,
        topic,
        o.clientId === undefined ? {} : { 'client.id': o.clientId },
        o.maxBatch ?? 500,
        sendTimeoutMs,
        o.logger ?? null,
        kafka,
        o.clientId ?? 'redemption-client',
        o.audit ?? null,
      );
      await client.partitionCount();
      await producer.connect();
      return client;
    } catch (error) {
      await admin.disconnect();
      throw error;
    }
  }

  /**
   * Sends one request; resolves once the broker has acknowledged it. Throws RequestRefusedError at once
   * for an invalid request (nothing is sent; other requests are not affected).
   */
  send(request: RedemptionRequested): Promise<void> {
    return this.enqueue(request).then(() => undefined);
  }

  /** `send`, answering where the request was written. */
  private enqueue(request: RedemptionRequested): Promise<SentPosition> {
    if (this.closed) return Promise.reject(new Error('the producer is disconnected'));
    let message: Queued['message'];
    try {
      message = this.messageOf(request, null);
    } catch (error) {
      return Promise.reject(error);
    }
    const acked = new Promise<SentPosition>((resolve, reject) => this.queue.push({ message, resolve, reject }));
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
    return (await this.produce(messages)).acks;
  }

  /**
   * Sends the request and answers with its outcome, from the audit record that decided it: APPLIED, or
   * REJECTED with its reason; for a request id decided before (a retry), its original outcome, marked
   * `retry`. Rejects with RequestRefusedError for an invalid request (nothing sent), with the send's
   * error when Kafka did not take it, and with DecisionTimeoutError when no decision came within
   * `timeoutMs` (the request is then in Kafka and will still be decided; redeeming it again is safe).
   */
  async redeem(request: RedemptionRequested, o: { timeoutMs?: number } = {}): Promise<RedemptionOutcome> {
    if (this.closed) throw new Error('the client is disconnected');
    if (!this.audit) throw new Error('redeem() needs the audit topic: make the client with create(), or connect() with `audit`');
    const timeoutMs = o.timeoutMs ?? this.audit.redeemTimeoutMs ?? DEFAULT_REDEEM_TIMEOUT_MS;
    // The reader starts (at the topic's end) before the request is sent: its decision cannot pass unseen.
    const waiter = await this.decisionWaiter();
    return waiter.wait(request.coupon_code, request.request_id, timeoutMs, this.enqueue(request));
  }

  /** Starts the audit reader now rather than on the first `redeem` (it takes a few seconds to join its group). */
  async startDecisions(): Promise<void> {
    await this.decisionWaiter();
  }

  private decisionWaiter(): Promise<DecisionWaiter> {
    const audit = this.audit!;
    this.decisions ??= DecisionWaiter.start(this.kafka, audit.topic, audit.decoder, this.clientId).catch((error: unknown) => {
      this.decisions = null;
      throw error;
    });
    return this.decisions;
  }

  /** Waits for the requests already passed to `send`, then leaves: nothing accepted is dropped. */
  async disconnect(): Promise<void> {
    this.closed = true;
    while (this.draining) await this.draining;
    const decisions = this.decisions;
    this.decisions = null;
    if (decisions) await (await decisions.catch(() => null))?.stop();
    await this.producer.disconnect();
    await this.admin.disconnect();
  }

  private messageOf(request: RedemptionRequested, index: number | null): Queued['message'] {
    const problems = requestProblems(request);
    if (problems.length > 0) throw new RequestRefusedError(request.request_id, problems, index);
    return { key: request.coupon_code, value: this.codec.encode(request), headers: this.headers };
  }

  /**
   * One acknowledged produce of these messages: their partitions are computed once, here (murmur2 of the
   * key, as the consumer checks; round robin for a keyless one), and kept across every re-send.
   */
  private async produce(messages: readonly Queued['message'][]): Promise<Acknowledged & { partitions: number[] }> {
    const deadline = Date.now() + this.sendTimeoutMs;
    const count = await this.partitionCount();
    const aimed = messages.map((m): AimedMessage => ({ ...m, partition: m.key == null ? this.nextKeyless++ % count : murmur2Partition(m.key, count) }));
    const acknowledged = await sendAcknowledged(this.producer, this.topic, aimed, {
      deadline,
      timeoutError: async () =>
        (await this.topicExists()) === false ? new TopicMissingError(this.topic) : new SendTimeoutError(this.topic, this.sendTimeoutMs),
      onResend: (n, partitions) => {
        this.resentMessages += n;
        this.logger?.warn({ topic: this.topic, messages: n, partitions }, 'the produce was not acknowledged for every partition; sending those messages again');
      },
    });
    return { ...acknowledged, partitions: aimed.map((m) => m.partition) };
  }

  /** The topic's partition count, asked again once it is older than a minute; TopicMissingError when there is no such topic. */
  private async partitionCount(): Promise<number> {
    if (this.partitions && Date.now() - this.partitions.at < PARTITION_COUNT_MAX_AGE_MS) return this.partitions.count;
    // listTopics first: asking a missing topic's metadata is retried for a long while.
    if ((await this.topicExists()) === false) throw new TopicMissingError(this.topic);
    const { topics } = await this.admin.fetchTopicMetadata({ topics: [this.topic] });
    const count = topics[0]?.partitions.length ?? 0;
    if (count === 0) throw new TopicMissingError(this.topic);
    this.partitions = { count, at: Date.now() };
    return count;
  }

  /** Whether the topic exists; null when Kafka cannot say. */
  private async topicExists(): Promise<boolean | null> {
    try {
      return (await this.admin.listTopics()).includes(this.topic);
    } catch {
      return null;
    }
  }

  private async drain(): Promise<void> {
    // Let the sends of this turn of the event loop join the first batch.
    await new Promise((resolve) => setImmediate(resolve));
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          const { offsets, partitions } = await this.produce(batch.map((q) => q.message));
          batch.forEach((q, i) => q.resolve({ partition: partitions[i]!, offset: offsets[i]! }));
        } catch (error) {
          for (const q of batch) q.reject(error);
        }
      }
    } finally {
      this.draining = null;
    }
  }
}

/** The client's former name, kept for existing code. */
export const RedemptionProducer = RedemptionClient;
export type RedemptionProducer = RedemptionClient;
/** The options' former name. */
export type RedemptionProducerOptions = RedemptionClientOptions;
