import { IDEMPOTENT_PRODUCER } from '../lib/kafka.js';
import type { Kafka, Producer } from 'kafkajs';
import { InputError } from '../lib/errors.js';
import { requestProblems } from '../schemas/request-validation.js';
import type { Codec } from '../schemas/registry.js';
import type { RedemptionRequested } from '../schemas/types.js';

/**
 * The library a checkout service uses to send RedemptionRequested events: an idempotent producer with
 * acks=all, keyed by coupon code (all of a coupon's events land in one partition, in order), Avro in the
 * Confluent wire format. A request is validated before anything is sent, and `send` resolves only once
 * the broker has acknowledged it.
 */
export class RedemptionProducer {
  private constructor(
    private readonly producer: Producer,
    private readonly codec: Codec<RedemptionRequested>,
    readonly topic: string,
  ) {}

  static async connect(kafka: Kafka, codec: Codec<RedemptionRequested>, topic: string): Promise<RedemptionProducer> {
    // One request in flight keeps file order across retries; idempotence makes the retries safe.
    const producer = kafka.producer(IDEMPOTENT_PRODUCER);
    await producer.connect();
    return new RedemptionProducer(producer, codec, topic);
  }

  async send(request: RedemptionRequested): Promise<void> {
    await this.sendAll([request]);
  }

  /**
   * Sends the requests in one acknowledged produce call, in their order. All are validated first: one
   * bad request refuses the whole call and nothing is sent.
   */
  async sendAll(requests: readonly RedemptionRequested[]): Promise<void> {
    const messages = requests.map((request, i) => {
      const problems = requestProblems(request);
      if (problems.length > 0) {
        const which = requests.length > 1 ? `request ${i + 1} (${request.request_id})` : `request ${request.request_id}`;
        throw new InputError('REQUEST_INVALID', `${which} is invalid: ${problems.join('; ')}`);
      }
      return { key: request.coupon_code, value: this.codec.encode(request) };
    });
    if (messages.length === 0) return;
    await this.producer.send({ topic: this.topic, acks: -1, messages });
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }
}
