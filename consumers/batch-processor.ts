import type { KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';

import { RedemptionError } from '../lib/errors.js';
import type { FaultInjector } from '../lib/faults.js';
import { isMysqlDataError, isRetriableKafkaError, isRetriableStorageError, retryUntilDone } from '../lib/retry.js';
import type { Decoder } from '../schemas/registry.js';
import type { RedemptionDecided, RedemptionRequested } from '../schemas/types.js';
import type { ConsumerStats } from './consumer-stats.js';
import type { DecisionCache } from './decision-cache.js';
import type { DecisionPublisher } from './decision-publisher.js';
import { knownDecision, priorState } from './decision-records.js';
import { type DeadLetter, decodeBatch, type DecodedBatch } from './decode.js';
import type { FlushResult, RedemptionStore, Selection } from './redemption-store.js';
import { type SourcedRequest } from './types.js';

/** Consecutive messages of one partition. */
export interface PartitionChunk {
  topic: string;
  partition: number;
  messages: readonly KafkaMessage[];
  /** The topic's partition count, when known: each request's partition is checked against its key. */
  partitionCount?: number;
  /** The messages already decoded (as the consumer fetched them); null or absent: decoded by the flush. */
  decoded?: DecodedBatch | null;
}

/**
 * How a flush and the flushes of its partitions before and after it share them: per-coupon order with
 * the next flush's MySQL work overlapping this one's audit produce and Redis update.
 */
export interface FlushOrder {
  /** The flush's MySQL transaction is over and its Redis update sent: its partitions' next flush may start. */
  released(): void;
  /** The previous flushes of its partitions have ended: only then may its audit records go. */
  after: Promise<void>;
}

/** Milliseconds a flush spent in each of its I/O stages, and the requests it carried. */
export interface FlushTimings {
  messages: number;
  redisMs: number;
  mysqlMs: number;
  auditMs: number;
}

export interface BatchProcessorDeps {
  decoder: Decoder<RedemptionRequested>;
  cache: DecisionCache;
  store: RedemptionStore;
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
 *   decode → Redis lookup beside the MySQL transaction's lock and reads → the transaction decides what
 *   Redis did not know and writes → Redis update and audit + dead letters, the last two at once.
 * Nothing is decided before both Redis and MySQL have answered, so running the two at once changes no
 * decision; it takes the lookup's round trip off every request's time.
 * Only once it is over may the caller hand its offsets to the committer (offset-committer.ts). A crash
 * anywhere before that commit redelivers the messages, and the decisions stored in MySQL turn the
 * redelivery into identical audit records instead of second effects.
 */
export class BatchProcessor {
  private flushes = 0;
  /** The last lookup found every request of its flush known to Redis: the next one goes before MySQL. */
  private redisKnewAll = false;

  constructor(private readonly deps: BatchProcessorDeps) {}

  /**
   * Processes chunks of one or more partitions as one flush: one Redis lookup, one MySQL transaction,
   * one Redis update and one produce for all of them. Each partition's messages stay in their order, and
   * a coupon lives in one partition, so per-coupon order holds.
   */
  async process(parts: readonly PartitionChunk[], order?: FlushOrder): Promise<FlushTimings> {
    const { deps } = this;
    // Every log line of this flush carries its batch id, next to the consumer id.
    const log = deps.logger.child({ batchId: `${deps.consumerId}#${++this.flushes}` });
    const decoded = await this.retrying(log, 'decode', () =>
      Promise.all(parts.map((c) => c.decoded ?? decodeBatch(c.messages, c.topic, c.partition, deps.decoder, deps.maxMessageBytes, c.partitionCount))),
    );
    const requests = decoded.flatMap((d) => d.requests);
    const deadLetters = decoded.flatMap((d) => d.deadLetters);
    const timings: FlushTimings = { messages: parts.reduce((n, c) => n + c.messages.length, 0), redisMs: 0, mysqlMs: 0, auditMs: 0 };

    const records: (RedemptionDecided | undefined)[] = new Array(requests.length);
    const reemitted: boolean[] = new Array(requests.length).fill(false);
    const flushSlots: number[] = [];
    const lookupStarted = performance.now();
    const selection: Promise<Selection> = deps.cache.lookup(requests).then(({ decisions: cached, redelivered, answered }) => {
      timings.redisMs += performance.now() - lookupStarted;
      if (requests.length > 0) deps.stats.recordRedisRoundTrip();
      deps.stats.redeliveries += redelivered;
      const toFlush: SourcedRequest[] = [];
      const decidedAt = Date.now();
      requests.forEach((source, i) => {
        const before = priorState(knownDecision(cached, source.request.coupon_code, source.request.request_id), source, decidedAt, deps.consumerId);
        if (before.kind === 'new') {
          toFlush.push(source);
          flushSlots.push(i);
        } else {
          reemitted[i] = before.kind === 'redelivered';
          records[i] = before.record;
        }
      });
      if (requests.length > 0) this.redisKnewAll = toFlush.length === 0;
      return { requests: toFlush, cacheAnswered: answered };
    });
    // Awaited below; a flush that fails before it needs the lookup leaves it unobserved.
    selection.catch(() => {});
    // MySQL's first round trip goes while Redis looks up, unless the last flush found every request
    // known to Redis (a replay of what is decided): then MySQL is asked only for what Redis does not know.
    const overlap = requests.length > 0 && !this.redisKnewAll;
    const selected = overlap ? null : await selection;
    const toFlush = selected?.requests ?? requests;

    let remembered: Promise<void> = Promise.resolve();
    if (toFlush.length > 0) {
      const t = performance.now();
      const flushed = await this.flushIsolatingRefusals(log, toFlush, selection);
      const chosen = await selection;
      timings.mysqlMs += performance.now() - t;
      deadLetters.push(...refusedDeadLetters(parts, chosen.requests, flushed.refused));
      flushed.records.forEach((record, j) => {
        if (record === null) return;
        records[flushSlots[j]!] = record;
        reemitted[flushSlots[j]!] = flushed.reemitted[j]!;
      });
      deps.stats.recordMysqlStatements(flushed.statements);
      if (!deps.dryRun) {
        deps.faults.at('crash-after-db-commit');
        // Redis learns the decisions while the audit records go out: neither waits for the other, for
        // MySQL holds them already (a Redis miss only sends a redelivery on to MySQL). The flush, and so
        // its partitions' next flush and its offsets, waits for both.
        const started = performance.now();
        remembered = deps.cache.remember(flushed.committed).then(() => {
          timings.redisMs += performance.now() - started;
          if (flushed.committed.length > 0) deps.stats.recordRedisRoundTrip();
          deps.faults.at('crash-after-redis');
        });
      }
    }

    // MySQL is done with these partitions (and Redis was sent their update before any later lookup):
    // their next flush may start.
    order?.released();

    // A request MySQL refused has no record: it is a dead letter instead.
    // mutant: audit-skipped-on-redelivery
    const audit = records.filter((r): r is RedemptionDecided => r !== undefined);
    const auditReemitted = reemitted.filter((_, i) => records[i] !== undefined);
    await this.publishInOrder(log, audit, deadLetters, remembered, timings, order);
    deps.stats.recordDecisions(audit.filter((_, i) => !auditReemitted[i]));
    deps.stats.recordAlreadyDecided(auditReemitted.filter(Boolean).length);
    for (const dl of deadLetters) {
      deps.stats.recordDeadLetter(dl.code);
      log.warn({ topic: dl.topic, partition: dl.partition, offset: dl.message.offset, code: dl.code, reason: dl.reason }, 'dead-lettered a message');
    }
    return timings;
  }

  /**
   * Publishes the flush's audit records and dead letters, after those of its partitions' previous flush
   * (`order.after`: a coupon's records stay in order), while Redis is updated (`remembered`); settles
   * both before a failure is rethrown, so a flush that fails has no Redis update still running.
   */
  private async publishInOrder(
    log: Logger,
    audit: readonly RedemptionDecided[],
    deadLetters: readonly DeadLetter[],
    remembered: Promise<void>,
    timings: FlushTimings,
    order: FlushOrder | undefined,
  ): Promise<void> {
    const { deps } = this;
    if (!deps.publish || deps.dryRun) {
      await remembered;
      await order?.after;
      return;
    }
    const started = performance.now();
    const publishing = (order?.after ?? Promise.resolve())
      .then(() => this.retrying(log, 'publish', () => deps.publisher.publish(audit, deadLetters)))
      .then(() => {
        timings.auditMs += performance.now() - started;
      });
    const [published, cached] = await Promise.allSettled([publishing, remembered]);
    if (published.status === 'rejected') throw published.reason;
    if (cached.status === 'rejected') throw cached.reason;
    deps.faults.at('crash-after-audit');
  }

  /**
   * Flushes the selected requests (`requests` are the candidates the transaction reads for); when MySQL
   * refuses the flush for a data error (a value it cannot store, never a connection, lock or deadlock
   * error, which are retried), splits the selected requests in halves, in order, until the refused
   * requests stand alone, and commits everything else. Never retries a data error. The result's records
   * and `refused` indexes are the selected requests'.
   */
  private async flushIsolatingRefusals(log: Logger, requests: readonly SourcedRequest[], selection: Promise<Selection>): Promise<IsolatedFlush> {
    const { deps } = this;
    try {
      const flushed = await this.retrying(log, 'flush', () =>
        deps.store.flush(requests, {
          consumerId: deps.consumerId,
          decidedAt: Date.now(),
          selected: selection,
          mode: deps.dryRun ? { kind: 'dry-run' } : { kind: 'commit', beforeCommit: () => deps.faults.at('crash-before-db-commit') },
        }),
      );
      return { ...flushed, refused: [] };
    } catch (error) {
      if (!isMysqlDataError(error) || deps.shouldStop()) throw error;
      const { requests: chosen, cacheAnswered } = await selection;
      if (chosen.length === 1) {
        log.warn({ err: error, partition: chosen[0]!.partition, offset: chosen[0]!.offset }, 'MySQL refused a request; dead-lettering it');
        return { records: [null], reemitted: [false], committed: [], statements: 0, refused: [{ index: 0, error }] };
      }
      log.warn({ err: error, requests: chosen.length }, 'MySQL refused the flush for its data; splitting it to find the request');
      const half = async (part: readonly SourcedRequest[]) => this.flushIsolatingRefusals(log, part, Promise.resolve({ requests: part, cacheAnswered }));
      const middle = Math.ceil(chosen.length / 2);
      const first = await half(chosen.slice(0, middle));
      const second = await half(chosen.slice(middle));
      return {
        records: [...first.records, ...second.records],
        reemitted: [...first.reemitted, ...second.reemitted],
        committed: [...first.committed, ...second.committed],
        statements: first.statements + second.statements,
        refused: [...first.refused, ...second.refused.map((r) => ({ ...r, index: r.index + middle }))],
      };
    }
  }

  private async retrying<T>(log: Logger, stage: Stage, work: () => Promise<T>): Promise<T> {
    try {
      return await retryUntilDone(work, {
        // KafkaJS has retried a produce before it throws a retriable error; past that the broker is down
        // and we wait for it. A refusal (a message too large, an authorization error) is final.
        isRetriable: stage === 'publish' ? isRetriableKafkaError : isRetriableStorageError,
        shouldStop: this.deps.shouldStop,
        onRetry: (error, attempt, delayMs) => {
          this.deps.stats.recordRetry(stage);
          log.warn({ err: error, stage, attempt, delayMs }, 'retrying');
        },
      });
    } catch (error) {
      throw stageFailure(stage, error);
    }
  }
}

/** The dead letters of the requests MySQL refused (`refused` indexes `flushed`), with their original messages. */
function refusedDeadLetters(parts: readonly PartitionChunk[], flushed: readonly SourcedRequest[], refused: IsolatedFlush['refused']): DeadLetter[] {
  return refused.map(({ index, error }) => {
    const source = flushed[index]!;
    const message = parts.find((c) => c.topic === source.topic && c.partition === source.partition)!.messages.find((m) => Number(m.offset) === source.offset)!;
    return {
      message,
      topic: source.topic,
      partition: source.partition,
      code: 'STORAGE_REFUSED',
      reason: `MySQL refused the request: ${(error as Error).message}`,
    };
  });
}

type Stage = 'decode' | 'flush' | 'publish';

/** A flush's result where some requests may have been refused by MySQL (null record, listed in `refused`). */
interface IsolatedFlush extends Omit<FlushResult, 'records'> {
  records: (RedemptionDecided | null)[];
  refused: { index: number; error: unknown }[];
}

const STAGE_FAILURE = { decode: 'CONSUMER_FAILED', flush: 'STORAGE_FAILED', publish: 'PUBLISH_FAILED' } as const;

/**
 * An error a stage cannot retry, marked as not retriable for KafkaJS too: its retrier would otherwise
 * run the batch again ten times and restart the consumer onto it forever. A data error from MySQL is
 * passed through as it is, for the flush to isolate.
 */
function stageFailure(stage: Stage, error: unknown): unknown {
  if (error instanceof RedemptionError && !error.retriable) return error;
  if (stage === 'flush' && isMysqlDataError(error)) return error;
  if (isRetriableStorageError(error) || isRetriableKafkaError(error)) return error;
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new RedemptionError(STAGE_FAILURE[stage], `the ${stage} stage failed and cannot be retried: ${detail}`, { retriable: false, cause: error });
}
