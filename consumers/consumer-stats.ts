import { Counter, Gauge, Histogram, type Metric, Registry } from 'prom-client';

import type { Decision, RedemptionDecided, RejectReason } from '../schemas/types.js';
import { SWEEP_FAILURES_WARNED } from './member-liveness.js';
import { PauseWatch } from './pause-watch.js';
import { EndToEndHistogram, RequestHistogram, StageHistogram } from './stage-histogram.js';

/**
 * What one consumer has done: plain figures for its summary, and the same events as Prometheus metrics
 * for its /metrics endpoint. Labels are bounded by construction: decision, reason, error code,
 * partition, operation; never a coupon code, user id or request id.
 */
export class ConsumerStats {
  readonly decisions: Record<Decision, number> = { APPLIED: 0, DUPLICATE: 0, REJECTED: 0 };
  readonly rejectedBy = new Map<RejectReason, number>();
  deadLetters = 0;
  batches = 0;
  /** Fetch responses KafkaJS handled (its FETCH event): each is one request to a broker, answered. */
  fetches = 0;
  messages = 0;
  mysqlStatements = 0;
  mysqlRetries = 0;
  redisRoundTrips = 0;
  redisErrors = 0;
  redeliveries = 0;
  /** Messages whose decision was already stored (redelivered or replayed): re-emitted, nothing changed. */
  alreadyDecided = 0;
  rebalances = 0;
  /** Dead members this one removed from the group (see member-liveness.ts). */
  deadMembersRemoved = 0;
  firstMessageAt: number | null = null;
  lastMessageAt: number | null = null;
  lastFlushAt: number | null = null;

  readonly registry = new Registry();
  /** Where each request's time went, stage by stage (redeem_stage_<stage>_seconds). */
  readonly stages = new StageHistogram();
  /** End-to-end time per request, on the same buckets (redeem_request_seconds). */
  readonly endToEnd = new EndToEndHistogram();
  /**
   * The same times on coarser buckets, under the name dashboards know. Observed per flush for all its
   * requests without allocating (prom-client's Histogram made a labels object and a closure per request).
   */
  private readonly endToEndLatency = new RequestHistogram(
    'redeem_end_to_end_latency_seconds',
    'From the request reaching the broker (its CreateTime) to its decision committed and its audit record acknowledged',
    ['all'],
    null,
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  );
  private readonly m = {
    messages: new Counter({ name: 'redeem_messages_total', help: 'Messages read from the requests topic', registers: [this.registry] }),
    decisions: new Counter({
      name: 'redeem_decisions_total',
      help: 'Decisions by outcome and reject reason',
      labelNames: ['decision', 'reason'] as const,
      registers: [this.registry],
    }),
    deadLetters: new Counter({
      name: 'redeem_dead_letters_total',
      help: 'Messages sent to the dead-letter topic, by error code',
      labelNames: ['code'] as const,
      registers: [this.registry],
    }),
    batchSize: new Histogram({
      name: 'redeem_batch_size',
      help: 'Messages per flush',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2000, 5000],
      registers: [this.registry],
    }),
    flushSeconds: new Histogram({
      name: 'redeem_flush_duration_seconds',
      help: 'Time a flush took, from its start to its audit records acknowledged',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    }),
    lag: new Gauge({
      name: 'redeem_consumer_lag',
      help: "The group's committed offset behind the partition's end, for every partition of the topic (polled)",
      labelNames: ['partition'] as const,
      registers: [this.registry],
    }),
    lastProgress: new Gauge({
      name: 'redeem_last_progress_timestamp_seconds',
      help: 'When this member last committed a flush or found its partitions caught up',
      registers: [this.registry],
    }),
    alreadyDecided: new Counter({
      name: 'redeem_already_decided_total',
      help: 'Redelivered or replayed messages whose stored decision was re-emitted unchanged',
      registers: [this.registry],
    }),
    rebalances: new Counter({ name: 'redeem_rebalances_total', help: 'Rebalances this member went through', registers: [this.registry] }),
    deadMembersRemoved: new Counter({
      name: 'redeem_dead_members_removed_total',
      help: 'Members whose process had stopped proving it is alive, removed from the group by this one before their session ran out',
      registers: [this.registry],
    }),
    sweepFailures: new Counter({
      name: 'redeem_member_sweep_failures_total',
      help: 'Sweeps for dead members that could not judge the group (Kafka or Redis failed)',
      registers: [this.registry],
    }),
    sweepFailing: new Gauge({
      name: 'redeem_member_sweep_failing',
      help: '1 while the last sweeps for dead members failed (3 or more in a row): dead members wait for their session',
      registers: [this.registry],
    }),
    generation: new Gauge({
      name: 'redeem_group_generation',
      help: "The consumer group's generation at this member's last join (one more per rebalance)",
      registers: [this.registry],
    }),
    redisErrors: new Counter({
      name: 'redeem_redis_errors_total',
      help: 'Redis calls that failed (the batch went on through MySQL)',
      labelNames: ['operation'] as const,
      registers: [this.registry],
    }),
    retries: new Counter({
      name: 'redeem_retries_total',
      help: 'Retried failures by stage (flush = MySQL)',
      labelNames: ['stage'] as const,
      registers: [this.registry],
    }),
    mysqlStatements: new Counter({ name: 'redeem_mysql_statements_total', help: 'MySQL statements sent by flushes', registers: [this.registry] }),
    redisRoundTrips: new Counter({ name: 'redeem_redis_round_trips_total', help: 'Redis round trips made by flushes', registers: [this.registry] }),
    fetches: new Counter({ name: 'redeem_fetches_total', help: 'Fetch requests answered by the brokers (with records or not)', registers: [this.registry] }),
    lastFlush: new Gauge({ name: 'redeem_last_flush_timestamp_seconds', help: 'When the last flush committed', registers: [this.registry] }),
  };

  /** The event loop's delay and the GC pauses, once the member watches them (`watchPauses`). */
  pauses: PauseWatch | null = null;

  constructor() {
    for (const metric of this.stages.metrics()) this.registry.registerMetric(metric as unknown as Metric);
    this.registry.registerMetric(this.endToEnd as unknown as Metric);
    this.registry.registerMetric(this.endToEndLatency as unknown as Metric);
  }

  /** Starts watching this process's pauses (one watch per stats; a running member's). */
  watchPauses(): void {
    this.pauses ??= new PauseWatch(this.registry);
  }

  recordDecisions(records: readonly RedemptionDecided[]): void {
    // Counted per outcome first: prom-client hashes the labels at every inc, which per record was 1.7%
    // of a drain's allocations.
    const outcomes = new Map<string, { decision: RedemptionDecided['decision']; reason: string; n: number }>();
    for (const r of records) {
      this.decisions[r.decision] += 1;
      if (r.reason) this.rejectedBy.set(r.reason, (this.rejectedBy.get(r.reason) ?? 0) + 1);
      const key = r.reason ? `${r.decision}:${r.reason}` : r.decision;
      const outcome = outcomes.get(key);
      if (outcome) outcome.n += 1;
      else outcomes.set(key, { decision: r.decision, reason: r.reason ?? '', n: 1 });
    }
    for (const { decision, reason, n } of outcomes.values()) this.m.decisions.inc({ decision, reason }, n);
  }

  recordAlreadyDecided(n: number): void {
    this.alreadyDecided += n;
    this.m.alreadyDecided.inc(n);
  }

  recordDeadLetter(code: string): void {
    this.deadLetters += 1;
    this.m.deadLetters.inc({ code });
  }

  /** The group's lag per partition, as last polled (all partitions, owned by this member or not). */
  recordGroupLag(lag: ReadonlyMap<number, number>): void {
    for (const [partition, behind] of lag) this.m.lag.set({ partition: String(partition) }, behind);
  }

  recordProgress(at: number): void {
    this.m.lastProgress.set(at / 1000);
  }

  /** A flush is over: `messages` in `seconds`, with their CreateTimes (end-to-end latency). */
  recordFlush(messages: number, seconds: number, createTimes: readonly number[], now = Date.now()): void {
    this.messages += messages;
    this.batches += 1;
    this.lastFlushAt = now;
    this.m.messages.inc(messages);
    this.m.batchSize.observe(messages);
    this.m.flushSeconds.observe(seconds);
    for (const t of createTimes) {
      const seconds = (now - t) / 1000;
      this.endToEndLatency.observe('all', seconds);
      this.endToEnd.observe('all', seconds);
    }
    this.m.lastFlush.set(now / 1000);
  }

  recordMysqlStatements(n: number): void {
    this.mysqlStatements += n;
    this.m.mysqlStatements.inc(n);
  }

  recordFetch(): void {
    this.fetches += 1;
    this.m.fetches.inc();
  }

  recordRedisRoundTrip(): void {
    this.redisRoundTrips += 1;
    this.m.redisRoundTrips.inc();
  }

  recordRedisError(operation: 'lookup' | 'remember'): void {
    this.redisErrors += 1;
    this.m.redisErrors.inc({ operation });
  }

  recordRetry(stage: 'decode' | 'flush' | 'publish'): void {
    if (stage === 'flush') this.mysqlRetries += 1;
    this.m.retries.inc({ stage });
  }

  recordRebalance(): void {
    this.rebalances += 1;
    this.m.rebalances.inc();
  }

  recordDeadMemberRemoved(): void {
    this.deadMembersRemoved += 1;
    this.m.deadMembersRemoved.inc();
  }

  /** A sweep for dead members failed, `consecutive` in a row (see member-liveness.ts). */
  recordSweepFailure(consecutive: number): void {
    this.m.sweepFailures.inc();
    this.m.sweepFailing.set(consecutive >= SWEEP_FAILURES_WARNED ? 1 : 0);
  }

  recordSweepSuccess(): void {
    this.m.sweepFailing.set(0);
  }

  recordGeneration(generation: number): void {
    this.m.generation.set(generation);
  }

  /** Messages with a decision, new or re-emitted. */
  get decided(): number {
    return this.decisions.APPLIED + this.decisions.DUPLICATE + this.decisions.REJECTED + this.alreadyDecided;
  }
}
