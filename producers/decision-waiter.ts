/**
 * How `redeem()` waits for its decision: one reader of the audit topic per client, in a single-member
 * group of its own, answering every waiting request with the audit record of the message it sent (and a
 * retry with its request id's original outcome).
 */
import { randomBytes } from 'node:crypto';

import type { Admin, Consumer, Kafka } from 'kafkajs';

import { RedemptionError } from '../lib/errors.js';
import { setGroupOffsets, topicOffsets } from '../lib/kafka.js';
import type { Decoder } from '../schemas/registry.js';
import type { Decision, RedemptionDecided, RejectReason } from '../schemas/types.js';
import type { SentPosition } from './redemption-producer.js';

/**
 * What `redeem()` answers: the request's outcome, from the audit record of the message `redeem()` sent.
 *
 * When that message repeats a request id already decided (a retry after a timeout, or an upstream
 * retry), the pipeline's record of it is a DUPLICATE that carries the original outcome (schema version
 * 2): `decision` and `reason` are then that original outcome, `retry` is true, and `record` is the
 * DUPLICATE record itself.
 */
export interface RedemptionOutcome {
  /** APPLIED or REJECTED; DUPLICATE only from a pipeline whose records predate version 2 (the original unknown). */
  decision: Decision;
  reason: RejectReason | null;
  /** True when the request id had been decided before: this is the original outcome. */
  retry: boolean;
  record: RedemptionDecided;
}

/** The outcome an audit record gives. */
export function outcomeOf(record: RedemptionDecided): RedemptionOutcome {
  if (record.decision !== 'DUPLICATE') return { decision: record.decision, reason: record.reason, retry: false, record };
  return { decision: record.original_decision ?? 'DUPLICATE', reason: record.original_reason ?? null, retry: true, record };
}

/**
 * No decision in time. `acknowledged`: the request is in Kafka and will still be decided (else Kafka had
 * not yet acknowledged it: it may or may not be there). Either way, redeeming it again with the same
 * request id is safe and answers with its original outcome.
 */
export class DecisionTimeoutError extends RedemptionError {
  constructor(
    readonly couponCode: string,
    readonly requestId: string,
    readonly timeoutMs: number,
    readonly acknowledged: boolean,
  ) {
    super(
      'DECISION_TIMEOUT',
      `no decision on request ${requestId} (coupon ${couponCode}) within ${timeoutMs} ms; ` +
        (acknowledged ? 'the request is in Kafka and will still be decided: ' : 'Kafka had not yet acknowledged the request (it may still be written): ') +
        `redeem it again with the same request id (the answer is its original outcome) or look the decision up later (redeem decision ${couponCode} ${requestId})`,
      { retriable: true },
    );
    this.name = 'DecisionTimeoutError';
  }
}

interface Waiter {
  resolve(outcome: RedemptionOutcome): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout;
  /** Where the request was written, once Kafka has acknowledged it. */
  position: SentPosition | null;
  /** Records of the (coupon, request id) read before the position was known. */
  early: RedemptionDecided[];
}

/**
 * The client's reader of the audit topic, serving every `redeem()` of the client at once: one KafkaJS
 * consumer in a consumer group of its own (a random id, one member, so nothing ever rebalances under it;
 * KafkaJS has no group-less assign), starting at the topic's end as it was when the reader started.
 * Waits are kept per (coupon, request id), each for the record of its own message (the requests topic's
 * partition and offset the send was acknowledged at: the record's source_partition and source_offset),
 * so an earlier message of the same request id answers nobody by mistake. A record whose coupon nobody
 * waits for is skipped undecoded (the key is the coupon code): the reader costs little beside a busy
 * pipeline.
 *
 * The start offsets are committed for the new group before its consumer joins: a decision written
 * while it joins (seconds) is read, not skipped by "latest".
 */
export class DecisionWaiter {
  private readonly waiters = new Map<string, Map<string, Waiter[]>>();
  private stopped = false;

  private constructor(
    private readonly consumer: Consumer,
    private readonly admin: Admin,
    private readonly groupId: string,
    private readonly decoder: Decoder<RedemptionDecided>,
  ) {}

  static async start(kafka: Kafka, auditTopic: string, decoder: Decoder<RedemptionDecided>, clientId: string): Promise<DecisionWaiter> {
    const groupId = `${clientId}-decisions-${randomBytes(6).toString('hex')}`;
    const admin = kafka.admin();
    await admin.connect();
    try {
      const ends = await topicOffsets(admin, auditTopic);
      await setGroupOffsets(kafka, { groupId, topic: auditTopic, partitions: ends.map((e) => ({ partition: e.partition, offset: e.high })) });
      // A short session: the group is this process's alone, and is deleted when it disconnects.
      const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1000, maxWaitTimeInMs: 50, allowAutoTopicCreation: false });
      const waiter = new DecisionWaiter(consumer, admin, groupId, decoder);
      await consumer.connect();
      await consumer.subscribe({ topic: auditTopic, fromBeginning: false });
      await consumer.run({ autoCommit: false, eachBatch: async ({ batch }) => waiter.read(batch.messages) });
      return waiter;
    } catch (error) {
      await admin.disconnect();
      throw error;
    }
  }

  /**
   * Waits for the decision of (coupon, request id); call before sending the request, so that a fast
   * decision cannot pass unseen. `sent` is the send: its failure ends the wait with that error.
   */
  wait(couponCode: string, requestId: string, timeoutMs: number, sent: Promise<SentPosition>): Promise<RedemptionOutcome> {
    if (this.stopped) return Promise.reject(new Error('the client is disconnected'));
    return new Promise<RedemptionOutcome>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        position: null,
        early: [],
        timer: setTimeout(() => {
          this.remove(couponCode, requestId, waiter);
          reject(new DecisionTimeoutError(couponCode, requestId, timeoutMs, waiter.position !== null));
        }, timeoutMs),
      };
      let byRequest = this.waiters.get(couponCode);
      if (!byRequest) this.waiters.set(couponCode, (byRequest = new Map()));
      byRequest.set(requestId, [...(byRequest.get(requestId) ?? []), waiter]);
      sent.then(
        (position) => {
          waiter.position = position;
          const record = waiter.early.find((r) => isAt(r, position));
          waiter.early = [];
          if (record) this.answer(couponCode, requestId, waiter, record);
        },
        (error: unknown) => {
          if (this.remove(couponCode, requestId, waiter)) {
            clearTimeout(waiter.timer);
            reject(error);
          }
        },
      );
    });
  }

  /** Waits in progress (for the tests and the ops page). */
  get waiting(): number {
    let n = 0;
    for (const byRequest of this.waiters.values()) for (const list of byRequest.values()) n += list.length;
    return n;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const byRequest of this.waiters.values())
      for (const list of byRequest.values())
        for (const w of list) {
          clearTimeout(w.timer);
          w.reject(new Error('the client is disconnected'));
        }
    this.waiters.clear();
    try {
      await this.consumer.disconnect();
      // The group was this client's alone: leave nothing behind in Kafka.
      await this.admin.deleteGroups([this.groupId]).catch(() => {});
    } finally {
      await this.admin.disconnect();
    }
  }

  private async read(messages: readonly { key: Buffer | null; value: Buffer | null }[]): Promise<void> {
    for (const m of messages) {
      if (m.key === null || m.value === null || !this.waiters.has(m.key.toString())) continue;
      let record: RedemptionDecided;
      try {
        record = await this.decoder.decode(m.value);
      } catch {
        continue; // not a record this client can read: nobody's decision
      }
      for (const waiter of this.waiters.get(record.coupon_code)?.get(record.request_id) ?? []) {
        if (waiter.position === null) waiter.early.push(record);
        else if (isAt(record, waiter.position)) this.answer(record.coupon_code, record.request_id, waiter, record);
      }
    }
  }

  private answer(couponCode: string, requestId: string, waiter: Waiter, record: RedemptionDecided): void {
    if (!this.remove(couponCode, requestId, waiter)) return;
    clearTimeout(waiter.timer);
    waiter.resolve(outcomeOf(record));
  }

  /** Removes one wait; false when it was already answered. */
  private remove(couponCode: string, requestId: string, waiter: Waiter): boolean {
    const byRequest = this.waiters.get(couponCode);
    const list = byRequest?.get(requestId);
    if (!byRequest || !list?.includes(waiter)) return false;
    const rest = list.filter((w) => w !== waiter);
    if (rest.length > 0) byRequest.set(requestId, rest);
    else byRequest.delete(requestId);
    if (byRequest.size === 0) this.waiters.delete(couponCode);
    return true;
  }
}

/** Whether the record decides the message written at `position`. */
function isAt(record: RedemptionDecided, position: SentPosition): boolean {
  return record.source_partition === position.partition && record.source_offset === position.offset;
}
