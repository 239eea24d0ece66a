import type { Consumer } from 'kafkajs';

import type { BatchProcessor, PartitionChunk } from './batch-processor.js';

interface Pending extends PartitionChunk {
  resolve(): void;
  reject(error: unknown): void;
}

export interface FlushCoalescerOptions {
  /** Runs one flush (decode, dedupe, decide, write, publish). */
  processor: BatchProcessor;
  /** The group member whose offsets each flush commits (known once the member is created). */
  consumer: () => Consumer;
  /** Most messages in one flush: FLUSH_MAX_MESSAGES. */
  maxMessages: number;
  /** Flushes at once, on disjoint partitions: FLUSH_CONCURRENCY. */
  concurrency: number;
  /** Commit each flush's offsets (false for a dry run, which must leave the group where it was). */
  commitOffsets: boolean;
}

/**
 * Group commit across partitions. KafkaJS hands each partition's batch to its own handler; the chunks
 * they submit are flushed together, as one transaction with one Redis round trip, one produce and one
 * offset commit, instead of one of each per partition. Under light load that cuts the round trips per
 * message several times over (lower latency); under a backlog it merges chunks up to `maxMessages`.
 *
 * Up to `concurrency` flushes run at once, on disjoint sets of partitions: a coupon lives in one
 * partition, so concurrent flushes never touch the same coupon, and a partition's chunks are flushed
 * one after the other, in order.
 */
export class FlushCoalescer {
  private readonly queue: Pending[] = [];
  private readonly busy = new Set<string>();
  private running = 0;
  private scheduled = false;

  private readonly processor: BatchProcessor;
  private readonly consumer: () => Consumer;
  private readonly maxMessages: number;
  private readonly concurrency: number;
  private readonly commit: boolean;

  constructor(o: FlushCoalescerOptions) {
    this.processor = o.processor;
    this.consumer = o.consumer;
    this.maxMessages = o.maxMessages;
    this.concurrency = o.concurrency;
    this.commit = o.commitOffsets;
  }

  /** Resolves once the chunk's effects are committed, its audit records published and its offset committed. */
  submit(chunk: PartitionChunk): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...chunk, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // Let every handler that is ready in this turn of the event loop submit first.
    setImmediate(() => {
      this.scheduled = false;
      while (this.running < this.concurrency) {
        const group = this.take();
        if (group.length === 0) break;
        void this.flush(group);
      }
    });
  }

  private async flush(group: Pending[]): Promise<void> {
    this.running += 1;
    const keys = group.map(key);
    for (const k of keys) this.busy.add(k);
    try {
      // mutant: commit-before-mysql
      await this.processor.process(group);
      if (this.commit) {
        await this.consumer().commitOffsets(
          group.map((c) => ({ topic: c.topic, partition: c.partition, offset: (BigInt(c.messages[c.messages.length - 1]!.offset) + 1n).toString() })),
        );
      }
      for (const c of group) c.resolve();
    } catch (error) {
      for (const c of group) c.reject(error);
    } finally {
      for (const k of keys) this.busy.delete(k);
      this.running -= 1;
      if (this.queue.length > 0) this.schedule();
    }
  }

  /** Chunks of partitions no flush is working on, in submission order, while they fit in `maxMessages`. */
  private take(): Pending[] {
    const group: Pending[] = [];
    const taken = new Set<string>();
    let size = 0;
    for (let i = 0; i < this.queue.length;) {
      const next = this.queue[i]!;
      const k = key(next);
      const fits = group.length === 0 || size + next.messages.length <= this.maxMessages;
      if (this.busy.has(k) || taken.has(k) || !fits) {
        i++;
        continue;
      }
      group.push(...this.queue.splice(i, 1));
      taken.add(k);
      size += next.messages.length;
    }
    return group;
  }
}

function key(c: PartitionChunk): string {
  return `${c.topic}/${c.partition}`;
}
