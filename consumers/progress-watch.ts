import type { Admin, Kafka } from 'kafkajs';
import type { Logger } from 'pino';

import { groupProgress } from '../lib/kafka.js';
import type { ConsumerStats } from './consumer-stats.js';

export interface ProgressWatchOptions {
  kafka: Kafka;
  groupId: string;
  topic: string;
  stats: ConsumerStats;
  logger: Logger;
  /** No progress for this long while owned partitions have lag: stalled. */
  stallThresholdMs: number;
  /** How often the group's lag is read from the broker. */
  pollIntervalMs: number;
}

/**
 * Tells whether this member is making progress. It reads the group's committed offsets against the
 * partitions' ends (the truth about lag, whoever owns the partitions, exported as `redeem_consumer_lag`)
 * and knows when the member last made progress: committed a flush, joined, or found its partitions
 * caught up. A member with lag on its partitions and no progress for longer than the threshold is
 * stalled (a flush retrying against a refusing MySQL, a publish failing): it says so once in the log
 * and /readyz answers 503 until progress resumes.
 */
export class ProgressWatch {
  private lag = new Map<number, number>();
  private lastProgressAt = Date.now();
  private owned: ReadonlySet<number> = new Set();
  private admin: Admin | null = null;
  private timer: NodeJS.Timeout | null = null;
  private reportedStall = false;

  constructor(private readonly o: ProgressWatchOptions) {}

  async start(): Promise<void> {
    this.admin = this.o.kafka.admin();
    await this.admin.connect();
    this.progressed();
    const tick = async () => {
      await this.poll();
      if (this.timer) this.timer = setTimeout(tick, this.o.pollIntervalMs);
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.admin?.disconnect();
    this.admin = null;
  }

  /** The partitions this member owns now (after each join). */
  assigned(partitions: Iterable<number>): void {
    this.owned = new Set(partitions);
    this.progressed();
  }

  /**
   * A partition's chunk committed, leaving it `behind` its end as the batch saw it: the lag is fresh
   * between polls for the partitions this member works on.
   */
  committed(partition: number, behind: number): void {
    this.lag.set(partition, behind);
    this.o.stats.recordGroupLag(new Map([[partition, behind]]));
    this.progressed();
  }

  /** A flush committed, the member joined, or its partitions were found caught up. */
  progressed(now = Date.now()): void {
    this.lastProgressAt = now;
    this.o.stats.recordProgress(now);
    if (this.reportedStall) {
      this.reportedStall = false;
      this.o.logger.info('progress resumed; no longer stalled');
    }
  }

  /** Lag on the partitions this member owns, as last polled. */
  ownedLag(): number {
    let sum = 0;
    for (const partition of this.owned) sum += this.lag.get(partition) ?? 0;
    return sum;
  }

  stalled(now = Date.now()): boolean {
    const stalled = this.ownedLag() > 0 && now - this.lastProgressAt > this.o.stallThresholdMs;
    if (stalled && !this.reportedStall) {
      this.reportedStall = true;
      this.o.logger.error(
        { lag: this.ownedLag(), sinceProgressSeconds: Math.round((now - this.lastProgressAt) / 1000), partitions: [...this.owned] },
        'stalled: partitions have lag and no flush has committed within STALL_THRESHOLD_SECONDS; /readyz answers 503',
      );
    }
    return stalled;
  }

  private async poll(): Promise<void> {
    if (!this.admin) return;
    try {
      const progress = await groupProgress(this.admin, this.o.groupId, this.o.topic);
      const lag = new Map<number, number>();
      for (const [partition, end] of progress.ends) lag.set(partition, Math.max(0, end - (progress.committed.get(partition) ?? 0)));
      this.lag = lag;
      this.o.stats.recordGroupLag(lag);
      // Nothing to do is not a stall: a member that is caught up is as current as one that just flushed.
      if (this.ownedLag() === 0) this.progressed();
      else this.stalled();
    } catch (error) {
      // The lag stays as last read; the stall clock goes on, so a broker outage still shows.
      this.o.logger.warn({ err: error }, 'could not read the group lag');
      this.stalled();
    }
  }
}
