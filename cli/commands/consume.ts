import { RedemptionConsumer } from '../../consumers/redemption-consumer.js';
import type { ConsumerStats } from '../../consumers/consumer-stats.js';
import { ensurePipelineTopics } from '../../lib/topics.js';
import type { Runtime } from '../../lib/runtime.js';

export interface ConsumeOptions {
  exitWhenIdle?: number;
}

/** Runs one group member until SIGINT/SIGTERM, or until it has been idle for `exitWhenIdle` seconds. */
export async function consume(rt: Runtime, options: ConsumeOptions): Promise<ConsumerStats> {
  const admin = rt.kafka().admin();
  await admin.connect();
  try {
    await ensurePipelineTopics(admin, rt.config, rt.logger);
  } finally {
    await admin.disconnect();
  }
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
      await Promise.race([consumer.idleFor(options.exitWhenIdle), stopped, consumer.failed()]);
      await consumer.stop();
    } else {
      await Promise.race([stopped, consumer.failed()]);
    }
  } catch (error) {
    // A member that cannot go on must not linger: the command fails, naming the error, and its
    // supervisor restarts it.
    rt.logger.fatal({ err: error }, 'the consumer cannot go on; exiting');
    await consumer.stop().catch(() => {});
    throw error;
  }
  return consumer.stats;
}

export function formatStats(stats: ConsumerStats): string {
  const seconds = stats.firstMessageAt && stats.lastMessageAt ? Math.max((stats.lastMessageAt - stats.firstMessageAt) / 1000, 0.001) : 0;
  const rejected = [...stats.rejectedBy.entries()].sort().map(([reason, n]) => `${reason} ${n}`).join(', ');
  return [
    `decided      ${stats.decided}  (${seconds > 0 ? Math.round(stats.decided / seconds) : 0}/s over ${seconds.toFixed(1)} s)`,
    `applied      ${stats.decisions.APPLIED}`,
    `duplicates   ${stats.decisions.DUPLICATE}`,
    `rejected     ${stats.decisions.REJECTED}${rejected ? `  (${rejected})` : ''}`,
    `unchanged    ${stats.alreadyDecided}  (already decided: redelivered or replayed)`,
    `dead letters ${stats.deadLetters}`,
    `batches      ${stats.batches}, MySQL statements ${stats.mysqlStatements}, Redis round trips ${stats.redisRoundTrips}, rebalances ${stats.rebalances}`,
    `retries      MySQL ${stats.mysqlRetries}, Redis errors ${stats.redisErrors}, redeliveries seen ${stats.redeliveries}`,
    resourcesLine(),
  ].join('\n');
}

/** This process's CPU time and peak resident memory so far. */
export function resourcesLine(): string {
  const usage = process.resourceUsage();
  return `resources    cpu ${((usage.userCPUTime + usage.systemCPUTime) / 1e6).toFixed(2)} s, peak RSS ${(usage.maxRSS / 1024).toFixed(1)} MiB`;
}
