/**
 * `redeem consume`: one member of the pipeline's group, and the summaries it prints when it stops (a dry
 * run's included).
 */
import type { ConsumerStats } from '../../consumers/consumer-stats.js';
import { waitForDrain } from '../../consumers/drain.js';
import { formatPauses } from '../../consumers/pause-watch.js';
import { RedemptionConsumer } from '../../consumers/redemption-consumer.js';
import { formatLatency, formatStages } from '../../consumers/stage-histogram.js';
import { limitHeapGrowth } from '../../lib/heap-growth.js';
import { withAdmin } from '../../lib/kafka.js';
import type { Runtime } from '../../lib/runtime.js';
import { ensurePipelineTopics } from '../../lib/topics.js';

export interface ConsumeOptions {
  exitWhenIdle?: number;
  /** With exitWhenIdle: give up after this many seconds, naming the remaining lag (DrainIncompleteError). */
  maxWait?: number;
}

/**
 * Runs one group member until SIGINT/SIGTERM, or (with `exitWhenIdle`) until the work is done: the group
 * has committed the whole topic and this member has had nothing to do for `exitWhenIdle` seconds.
 */
export async function consume(rt: Runtime, options: ConsumeOptions): Promise<ConsumerStats> {
  limitHeapGrowth(rt.config.heapGrowingPercent);
  await withAdmin(rt.kafka(), (admin) => ensurePipelineTopics(admin, rt.config, rt.logger));
  const consumer = new RedemptionConsumer(rt.config, { kafka: rt.kafka(), registry: rt.registry(), redis: rt.redis(), knex: rt.knex(), logger: rt.logger });
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      rt.logger.info({ signal }, 'shutting down: finishing the batch in hand, then leaving the group');
      consumer.stop().then(resolve, resolve);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  await consumer.start();
  rt.logger.info({ consumerId: consumer.consumerId, group: rt.config.consumerGroup, topic: rt.config.redemptionTopic }, 'consuming');
  try {
    if (options.exitWhenIdle !== undefined) {
      const drained = withAdmin(rt.kafka('redeem-drain'), (admin) =>
        waitForDrain({
          admin,
          groupId: rt.config.consumerGroup,
          topic: rt.config.redemptionTopic,
          idleSeconds: options.exitWhenIdle!,
          idleMs: () => consumer.idleMs(),
          maxWaitSeconds: options.maxWait,
          abandon: stopped,
        }),
      );
      drained.catch(() => {}); // observed by the race below; never an unhandled rejection after a failure
      await Promise.race([drained, consumer.failed()]);
      await consumer.stop();
    } else {
      await Promise.race([stopped, consumer.failed()]);
    }
  } catch (error) {
    // A member that cannot go on (or a drain that did not finish in time) must not linger: the command
    // fails, naming the error, and its supervisor restarts it.
    rt.logger.error({ err: error }, 'the consumer stops: its work is not done');
    await consumer.stop().catch(() => {});
    // What was done before the failure is still a result: stdout, as the summary of a run that ends well.
    process.stdout.write(`${formatStats(consumer.stats)}\n`);
    throw error;
  }
  return consumer.stats;
}

export function formatStats(stats: ConsumerStats): string {
  const seconds = stats.firstMessageAt && stats.lastMessageAt ? Math.max((stats.lastMessageAt - stats.firstMessageAt) / 1000, 0.001) : 0;
  const rejected = [...stats.rejectedBy.entries()]
    .sort()
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  return [
    `decided      ${stats.decided}  (${seconds > 0 ? Math.round(stats.decided / seconds) : 0}/s over ${seconds.toFixed(1)} s)`,
    `applied      ${stats.decisions.APPLIED}`,
    `duplicates   ${stats.decisions.DUPLICATE}`,
    `rejected     ${stats.decisions.REJECTED}${rejected ? `  (${rejected})` : ''}`,
    `unchanged    ${stats.alreadyDecided}  (already decided: redelivered or replayed)`,
    `dead letters ${stats.deadLetters}`,
    `batches      ${stats.batches}, fetches ${stats.fetches}, MySQL statements ${stats.mysqlStatements}, Redis round trips ${stats.redisRoundTrips}, rebalances ${stats.rebalances}`,
    `retries      MySQL ${stats.mysqlRetries}, Redis errors ${stats.redisErrors}, redeliveries seen ${stats.redeliveries}`,
    `latency ms   ${formatLatency(stats.endToEnd.summary('all'))}; by stage ${formatStages(stats.stages.summaries())}  (mean/p50/p99 per request)`,
    resourcesLine(),
    ...(stats.pauses ? [`pauses       ${formatPauses(stats.pauses.summary())}`] : []),
  ].join('\n');
}

/**
 * What a dry run found a real replay would change: requests not decided yet and their effects, or
 * nothing at all. The summary's figures alone (applied 0 ... unchanged 244849 ... redeliveries seen
 * 246210) left that to be worked out. A duplicate (a retry of a request decided from another message)
 * and an already decided message change nothing; a rejection is recorded; an applied one has effects.
 */
export function formatDryRunChanges(stats: ConsumerStats): string {
  const { APPLIED: applied, DUPLICATE: duplicates, REJECTED: rejected } = stats.decisions;
  const unchanged = `${stats.alreadyDecided} already decided and ${duplicates} duplicate(s) stay as they are`;
  const deadLetters = stats.deadLetters > 0 ? `; ${stats.deadLetters} message(s) would go to the dead-letter topic` : '';
  if (applied + rejected === 0) return `the replay would change nothing: ${unchanged}${deadLetters}`;
  const reasons = [...stats.rejectedBy.entries()]
    .sort()
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  return [
    `the replay would decide ${applied + rejected} request(s) not decided yet:`,
    `  ${applied} applied: redemptions and refunds that change coupon counts and redemption rows`,
    `  ${rejected} rejected${reasons ? ` (${reasons})` : ''}: recorded as decisions, no other effect`,
    `  ${unchanged}${deadLetters}`,
  ].join('\n');
}

/** This process's CPU time and peak resident memory so far. */
export function resourcesLine(): string {
  const usage = process.resourceUsage();
  return `resources    cpu ${((usage.userCPUTime + usage.systemCPUTime) / 1e6).toFixed(2)} s, peak RSS ${(usage.maxRSS / 1024).toFixed(1)} MiB`;
}
