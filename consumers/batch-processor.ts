import type { KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import { isKafkaError, isRetriableStorageError, retryUntilDone } from '../lib/retry.js';
import type { FaultInjector } from '../lib/faults.js';
import type { Decoder } from '../schemas/registry.js';
import type { RedemptionDecided, RedemptionRequested } from '../schemas/types.js';
import type { ConsumerStats } from './consumer-stats.js';
import { decodeBatch } from './decode.js';
import type { DecisionCache } from './decision-cache.js';
import type { DecisionPublisher } from './decision-publisher.js';
import type { LedgerStore } from './ledger-store.js';
import { auditRecordOf, decisionKey, duplicateRecordOf, isSameMessage, type SourcedRequest } from './types.js';

/** Consecutive messages of one partition. */
export interface PartitionChunk {
  topic: string;
  partition: number;
  messages: readonly KafkaMessage[];
  /** The topic's partition count, when known: each request's partition is checked against its key. */
  partitionCount?: number;
}

export interface BatchProcessorDeps {
  decoder: Decoder<RedemptionRequested>;
  cache: DecisionCache;
  store: LedgerStore;
  publisher: DecisionPublisher;
  stats: ConsumerStats;
  logger: Logger;
  consumerId: string;
  maxMessageBytes: number;
  faults: FaultInjector;
  /** Decide and report, but write nothing anywhere (replay --dry-run). */
  dryRun: boolean;
  /** Publish audit records and dead letters (a rebuild into another database does not). */
  publish: boolean;
  /** True once the consumer is shutting down or lost the partition: stop retrying. */
  shouldStop(): boolean;
}

/**
 * One flush, in the order the pipeline promises:
 *   decode → Redis lookup → MySQL transaction (decide + write) → Redis update → audit + dead letters.
 * The caller commits the offsets afterwards. A crash anywhere before that commit redelivers the
 * messages, and the decisions stored in MySQL turn the redelivery into identical audit records instead
 * of second effects.
 */
export class BatchProcessor {
  private flushes = 0;

  constructor(private readonly deps: BatchProcessorDeps) {}

  /**
   * Processes chunks of one or more partitions as one flush: one Redis lookup, one MySQL transaction,
   * one Redis update and one produce for all of them. Each partition's messages stay in their order, and
   * a coupon lives in one partition, so per-coupon order holds.
   */
  async process(parts: readonly PartitionChunk[]): Promise<void> {
    const { deps } = this;
    // Every log line of this flush carries its batch id, next to the consumer id.
    const log = deps.logger.child({ batchId: `${deps.consumerId}#${++this.flushes}` });
    const decoded = await this.retrying(log, 'decode', () => Promise.all(parts.map((c) => decodeBatch(c.messages, c.topic, c.partition, deps.decoder, deps.maxMessageBytes, c.partitionCount))));
    const requests = decoded.flatMap((d) => d.requests);
    const deadLetters = decoded.flatMap((d) => d.deadLetters);

    const { decisions: cached, redelivered } = await deps.cache.lookup(requests);
    if (requests.length > 0) deps.stats.recordRedisRoundTrip();
    deps.stats.redeliveries += redelivered;

    const records: (RedemptionDecided | undefined)[] = new Array(requests.length);
    const reemitted: boolean[] = new Array(requests.length).fill(false);
    const toFlush: SourcedRequest[] = [];
    const flushSlots: number[] = [];
    const decidedAt = Date.now();
    requests.forEach((source, i) => {
      const known = cached.get(decisionKey(source.request.coupon_code, source.request.request_id));
      if (!known) {
        toFlush.push(source);
        flushSlots.push(i);
      } else {
        reemitted[i] = isSameMessage(known, source);
        records[i] = reemitted[i] ? auditRecordOf(known) : duplicateRecordOf(source, decidedAt, deps.consumerId);
      }
    });

    if (toFlush.length > 0) {
      const flushed = await this.retrying(log, 'flush', () =>
        deps.store.flush(toFlush, deps.consumerId, Date.now(), () => deps.faults.at('crash-before-db-commit'), deps.dryRun),
      );
      flushed.records.forEach((record, j) => {
        records[flushSlots[j]!] = record;
        reemitted[flushSlots[j]!] = flushed.reemitted[j]!;
      });
      deps.stats.recordMysqlStatements(flushed.statements);
      if (!deps.dryRun) {
        deps.faults.at('crash-after-db-commit');
        await deps.cache.remember(flushed.committed);
        if (flushed.committed.length > 0) deps.stats.recordRedisRoundTrip();
        deps.faults.at('crash-after-redis');
      }
    }

    const audit = records as RedemptionDecided[];
    if (deps.publish && !deps.dryRun) {
      await this.retrying(log, 'publish', () => deps.publisher.publish(audit, deadLetters));
      deps.faults.at('crash-after-audit');
    }
    deps.stats.recordDecisions(audit.filter((_, i) => !reemitted[i]));
    deps.stats.recordAlreadyDecided(reemitted.filter(Boolean).length);
    for (const dl of deadLetters) {
      deps.stats.recordDeadLetter(dl.code);
      log.warn({ topic: dl.topic, partition: dl.partition, offset: dl.message.offset, code: dl.code, reason: dl.reason }, 'dead-lettered a message');
    }
  }

  private retrying<T>(log: Logger, stage: 'decode' | 'flush' | 'publish', work: () => Promise<T>): Promise<T> {
    return retryUntilDone(work, {
      // KafkaJS has retried a produce before it throws; past that the broker is down, and we wait for it.
      isRetriable: stage === 'publish' ? (error) => isRetriableStorageError(error) || isKafkaError(error) : isRetriableStorageError,
      shouldStop: this.deps.shouldStop,
      onRetry: (error, attempt, delayMs) => {
        this.deps.stats.recordRetry(stage);
        log.warn({ err: error, stage, attempt, delayMs }, 'retrying');
      },
    });
  }
}
