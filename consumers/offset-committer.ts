import type { Logger } from 'pino';

/** Commits offsets for the group member (KafkaJS consumer.commitOffsets). */
export type CommitOffsets = (offsets: { topic: string; partition: number; offset: string }[]) => Promise<void>;

export interface OffsetCommitterOptions {
  commit: CommitOffsets;
  /** True while this member owns the partition: only its own partitions' offsets are committed. */
  owns(topic: string, partition: number): boolean;
  /**
   * OFFSET_COMMIT_INTERVAL_MS: a flushed chunk's offsets are committed by a commit that starts at most
   * this long after the flush ends (sooner when no commit was made for that long).
   */
  intervalMs: number;
  logger: Logger;
  /** A commit succeeded: these partitions' committed offsets moved; it covered these flushes (when each ended, its messages). */
  onCommitted?(moved: ReadonlyMap<string, PartitionOffset>, flushes: readonly { at: number; messages: number }[]): void;
  /** A commit failed (it is retried with the next one). */
  onError?(error: unknown): void;
}

export interface PartitionOffset {
  topic: string;
  partition: number;
  offset: number;
}

const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/**
 * Background, coalesced offset commits. The offsets of a chunk are handed over only once its flush is
 * over: its decisions committed in MySQL and its audit records acknowledged. From then on its offset
 * commit is bookkeeping: a crash before it only redelivers the chunk, and a redelivered chunk turns into
 * the identical audit records (its decisions are found stored), never a second effect. So the commit
 * leaves the flush's critical path and several flushes share one commit.
 *
 * At most one commit is in flight. The bound: a flushed chunk's offsets are in a commit that starts
 * within `intervalMs` of its flush's end (when the previous commit is still in flight then, right after
 * it), which bounds the work a crash redelivers to about `intervalMs` plus one commit round trip of
 * flushes. A failed commit keeps its offsets pending for the next one.
 *
 * Offsets only move forward here: a partition's chunks are flushed in order, and a chunk's offset is
 * handed over after the flush of every earlier chunk of its partition.
 */
export class OffsetCommitter {
  /** Next offset to commit per partition, not yet committed. */
  private readonly pending = new Map<string, PartitionOffset>();
  /** Flushes whose offsets are pending: when each ended and how many messages it covered. */
  private pendingFlushes: { at: number; messages: number }[] = [];
  private readonly committed = new Map<string, number>();
  private inFlight: Promise<void> | null = null;
  /** The offsets of the commit in flight, and those of its partitions a join took from this member meanwhile. */
  private inFlightCommit: { batch: readonly PartitionOffset[]; lost: Set<string> } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastCommitAt = 0;
  private closed = false;

  constructor(private readonly o: OffsetCommitterOptions) {}

  /** A flush is over: every message of the partition below `nextOffset` is decided and published. */
  flushed(topic: string, partition: number, nextOffset: number, messages: number, at = Date.now()): void {
    const k = key(topic, partition);
    const known = this.pending.get(k)?.offset ?? this.committed.get(k) ?? -1;
    if (nextOffset > known) this.pending.set(k, { topic, partition, offset: nextOffset });
    this.pendingFlushes.push({ at, messages });
    this.schedule();
  }

  /**
   * After a join: forgets the partitions this member no longer owns (their offsets are the new owner's
   * to commit). A flush that ends while the member owns nothing (restarting) keeps its offsets here
   * until the join says whether its partition is still ours.
   */
  retainOnly(): void {
    const flying = this.inFlightCommit;
    if (flying) for (const p of flying.batch) if (!this.o.owns(p.topic, p.partition)) flying.lost.add(key(p.topic, p.partition));
    for (const [k, p] of this.pending) if (!this.o.owns(p.topic, p.partition)) this.pending.delete(k);
    for (const k of this.committed.keys()) {
      const [topic, partition] = k.split('\u0000') as [string, string];
      if (!this.o.owns(topic, Number(partition))) this.committed.delete(k);
    }
    this.schedule();
  }

  /** True while some flushed offsets of owned partitions are not committed yet. */
  hasPending(): boolean {
    return this.inFlight !== null || this.owned().length > 0;
  }

  private owned(): PartitionOffset[] {
    return [...this.pending.values()].filter((p) => this.o.owns(p.topic, p.partition));
  }

  /** Commits everything pending now (waiting for a commit in flight first); rejects if the commit fails. */
  async commitNow(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.inFlight) await this.inFlight;
    if (this.owned().length === 0) return;
    await this.run(true);
  }

  /** Stops scheduling commits (a last commitNow() may still be made). */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.closed || this.timer || this.inFlight || this.owned().length === 0) return;
    const wait = Math.max(0, this.lastCommitAt + this.o.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run(false);
    }, wait);
  }

  private async run(throwOnError: boolean): Promise<void> {
    const batch = this.owned();
    if (batch.length === 0) return;
    const flushes = this.pendingFlushes;
    for (const p of batch) this.pending.delete(key(p.topic, p.partition));
    this.pendingFlushes = [];
    this.lastCommitAt = Date.now();
    const { lost } = (this.inFlightCommit = { batch, lost: new Set() });
    const attempt = this.o.commit(batch.map((p) => ({ topic: p.topic, partition: p.partition, offset: String(p.offset) })));
    this.inFlight = attempt.then(
      () => {},
      () => {},
    );
    try {
      await attempt;
      const moved = new Map<string, PartitionOffset>();
      for (const p of batch) {
        const k = key(p.topic, p.partition);
        this.committed.set(k, Math.max(this.committed.get(k) ?? -1, p.offset));
        moved.set(k, p);
      }
      this.o.onCommitted?.(moved, flushes);
    } catch (error) {
      // Put the offsets back unless newer ones arrived meanwhile; the next commit carries them. Not those
      // of a partition a join took away meanwhile, even if a later one gave it back: its owner in between
      // committed further, and this older offset would move the group back behind it.
      for (const p of batch) {
        const k = key(p.topic, p.partition);
        if (lost.has(k) || !this.o.owns(p.topic, p.partition)) continue;
        if ((this.pending.get(k)?.offset ?? -1) < p.offset) this.pending.set(k, p);
      }
      this.pendingFlushes = [...flushes, ...this.pendingFlushes];
      this.o.onError?.(error);
      if (throwOnError) throw error;
      this.o.logger.warn({ err: error }, 'offset commit failed; the offsets stay pending for the next commit (a crash meanwhile only redelivers)');
    } finally {
      this.inFlight = null;
      this.inFlightCommit = null;
      this.schedule();
    }
  }
}
