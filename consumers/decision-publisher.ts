import { IDEMPOTENT_PRODUCER } from '../lib/kafka.js';
import type { Kafka, Message, Producer } from 'kafkajs';
import { deadLetterTopic } from '../lib/config.js';
import type { Codec } from '../schemas/registry.js';
import type { RedemptionDecided } from '../schemas/types.js';
import type { DeadLetter } from './decode.js';

/**
 * Publishes a batch's audit records and dead letters in one acknowledged produce call. A dead letter
 * keeps the original key and value; its headers say why and where it came from.
 */
export class DecisionPublisher {
  private constructor(
    private readonly producer: Producer,
    private readonly codec: Codec<RedemptionDecided>,
    private readonly auditTopic: string,
    private readonly consumerId: string,
  ) {}

  static async connect(kafka: Kafka, codec: Codec<RedemptionDecided>, auditTopic: string, consumerId: string): Promise<DecisionPublisher> {
    const producer = kafka.producer(IDEMPOTENT_PRODUCER);
    await producer.connect();
    return new DecisionPublisher(producer, codec, auditTopic, consumerId);
  }

  async publish(records: readonly RedemptionDecided[], deadLetters: readonly DeadLetter[]): Promise<void> {
    const topicMessages: { topic: string; messages: Message[] }[] = [];
    if (records.length > 0) {
      topicMessages.push({ topic: this.auditTopic, messages: records.map((r) => ({ key: r.coupon_code, value: this.codec.encode(r) })) });
    }
    for (const dl of deadLetters) {
      topicMessages.push({
        topic: deadLetterTopic(dl.topic),
        messages: [
          {
            key: dl.message.key,
            value: dl.message.value,
            headers: {
              'dlq.code': dl.code,
              'dlq.reason': dl.reason,
              'dlq.topic': dl.topic,
              'dlq.partition': String(dl.partition),
              'dlq.offset': dl.message.offset,
              'dlq.consumer': this.consumerId,
            },
          },
        ],
      });
    }
    if (topicMessages.length === 0) return;
    await this.producer.sendBatch({ topicMessages, acks: -1 });
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }
}
