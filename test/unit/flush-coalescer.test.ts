import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';

import type { FlushOrder, FlushTimings, PartitionChunk } from '../../consumers/batch-processor.js';
import { EarlierFlushFailed, type FetchedChunk, FlushCoalescer, type FlushCoalescerOptions, type Rewind, splitChunk } from '../../consumers/flush-coalescer.js';
import type { SourcedRequest } from '../../consumers/types.js';

const messages = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ offset: String(from + i), timestamp: '0' }) as KafkaMessage);
const chunk = (partition: number, from: number, n: number, decodedAt = Date.now()): FetchedChunk => ({
  topic: 't',
  partition,
  messages: messages(from, n),
  decoded: { requests: messages(from, n).map((m) => ({ topic: 't', partition, offset: Number(m.offset) }) as SourcedRequest), deadLetters: [] },
  highWatermark: from + n,
  fetchedAt: decodedAt,
  decodedAt,
});
const timings = (parts: readonly PartitionChunk[]): FlushTimings => ({
  messages: parts.reduce((n, p) => n + p.messages.length, 0),
  redisMs: 0,
  mysqlMs: 0,
  auditMs: 0,
});
const label = (p: PartitionChunk) => `${p.partition}@${p.messages[0]!.offset}+${p.messages.length}`;

/**
 * A processor that records the flushes it is given and finishes each when told to (`release`), as the
 * real one does: not before the flushes before it of its partitions (`order.after`), and failing when
 * one of them failed. `orders[i].released()` says flush i's transaction is over.
 */
function harness(options: Partial<FlushCoalescerOptions> = {}) {
  const groups: string[][] = [];
  const release: ((error?: Error) => void)[] = [];
  const orders: FlushOrder[] = [];
  const flushed: { partition: number; next: number }[] = [];
  const paused = new Set<number>();
  const failures: { error: unknown; rewinds: readonly Rewind[] }[] = [];
  const owned = new Set([0, 1, 2, 3, 4, 5]);
  const coalescer = new FlushCoalescer({
    processor: {
      process: async (parts, order) => {
        groups.push(parts.map(label));
        orders.push(order!);
        const own = new Promise<void>((resolve, reject) => release.push((error) => (error ? reject(error) : resolve())));
        await Promise.all([own, order!.after]);
        return timings(parts);
      },
    },
    committer: {
      flushed: (_topic: string, partition: number, next: number) => flushed.push({ partition, next }),
    } as unknown as FlushCoalescerOptions['committer'],
    maxMessages: 100,
    concurrency: 1,
    queueMaxMessages: 1000,
    pause: (_t, p) => paused.add(p),
    resume: (_t, p) => paused.delete(p),
    owns: (_t, p) => owned.has(p),
    onFailed: (error, rewinds) => failures.push({ error, rewinds }),
    ...options,
  });
  return { coalescer, groups, release, orders, flushed, paused, failures, owned };
}

/**
 * A processor whose flushes end only when told (`end[i]`, with an error to fail), and never look at
 * `order.after`: a flush still in its transaction. The harness's own waits for `after` as it starts.
 */
function endedWhenTold() {
  const end: ((error?: Error) => void)[] = [];
  const orders: FlushOrder[] = [];
  const processor: FlushCoalescerOptions['processor'] = {
    process: (parts, order) => {
      orders.push(order!);
      return new Promise<FlushTimings>((resolve, reject) => end.push((error) => (error ? reject(error) : resolve(timings(parts)))));
    },
  };
  return { processor, end, orders };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const settle = async () => {
  for (let i = 0; i < 5; i++) await tick();
};

describe('flush coalescer', () => {
  it('merges the chunks queued together into one flush', async () => {
    const h = harness();
    h.coalescer.enqueue(chunk(0, 0, 10));
    h.coalescer.enqueue(chunk(1, 0, 10));
    h.coalescer.enqueue(chunk(2, 0, 10));
    await tick();
    expect(h.groups).toEqual([['0@0+10', '1@0+10', '2@0+10']]);
  });

  it('takes what a partition queued during its flush when that flush ends (natural batching), in order', async () => {
    const h = harness({ concurrency: 3 });
    h.coalescer.enqueue(chunk(0, 0, 5));
    await tick();
    h.coalescer.enqueue(chunk(0, 5, 5));
    h.coalescer.enqueue(chunk(0, 10, 5));
    h.coalescer.enqueue(chunk(1, 0, 5));
    await tick();
    // Partition 0 is busy: its next chunks wait; partition 1 goes at once in a flush of its own.
    expect(h.groups).toEqual([['0@0+5'], ['1@0+5']]);
    h.release.shift()!();
    await settle();
    expect(h.groups[2]).toEqual(['0@5+10']);
    expect(h.flushed).toEqual([{ partition: 0, next: 5 }]);
  });

  it('caps a flush at maxMessages, splitting a chunk, and runs up to `concurrency` flushes on disjoint partitions', async () => {
    const h = harness({ maxMessages: 20, concurrency: 2 });
    for (let p = 0; p < 3; p++) h.coalescer.enqueue(chunk(p, 0, 15, 1000 + p));
    await tick();
    expect(h.groups).toEqual([['0@0+15', '1@0+5'], ['2@0+15']]);
    h.release.shift()!();
    await settle();
    expect(h.groups[2]).toEqual(['1@5+10']);
  });

  it('shares the ready partitions among the flushes that may start, so that one flush never holds them all', async () => {
    const h = harness({ maxMessages: 2000, concurrency: 3 });
    for (let p = 0; p < 6; p++) h.coalescer.enqueue(chunk(p, 0, 250, 1000 + p));
    await tick();
    // The oldest first, two partitions each: one flush of all six would keep every partition busy until it
    // ended, and the next would take all six again.
    expect(h.groups).toEqual([
      ['0@0+250', '1@0+250'],
      ['2@0+250', '3@0+250'],
      ['4@0+250', '5@0+250'],
    ]);
    for (let p = 0; p < 6; p++) h.coalescer.enqueue(chunk(p, 250, 250, 2000 + p));
    h.release.shift()!();
    await settle();
    // One slot is free, and only the flush's two partitions are: that flush takes both.
    expect(h.groups[3]).toEqual(['0@250+250', '1@250+250']);
    h.release.shift()!();
    h.release.shift()!();
    await settle();
    // Two slots free, four partitions ready: two each again.
    expect(h.groups.slice(4)).toEqual([
      ['2@250+250', '3@250+250'],
      ['4@250+250', '5@250+250'],
    ]);
  });

  it('keeps a light load in one flush: a few requests are not worth several flushes', async () => {
    const h = harness({ maxMessages: 2000, concurrency: 3 });
    // 360 requests: enough for one flush of at least 250, not for two.
    for (let p = 0; p < 6; p++) h.coalescer.enqueue(chunk(p, 0, 60, 1000 + p));
    await tick();
    expect(h.groups).toEqual([['0@0+60', '1@0+60', '2@0+60', '3@0+60', '4@0+60', '5@0+60']]);
  });

  it("starts a partition's next flush once the one before is past its transaction, and ends it only after that one", async () => {
    const h = harness({ concurrency: 1 });
    h.coalescer.enqueue(chunk(0, 0, 5));
    await tick();
    h.coalescer.enqueue(chunk(0, 5, 5));
    await settle();
    expect(h.groups).toEqual([['0@0+5']]);
    // The first flush's MySQL transaction is over; its audit records are still out.
    h.orders[0]!.released();
    await settle();
    expect(h.groups).toEqual([['0@0+5'], ['0@5+5']]);
    let firstEnded = false;
    void h.orders[1]!.after.then(() => (firstEnded = true));
    // The second is done with its own work first: it still waits for the first (its audit records, its offsets).
    h.release[1]!();
    await settle();
    expect(firstEnded).toBe(false);
    expect(h.flushed).toEqual([]);
    h.release[0]!();
    await settle();
    expect(firstEnded).toBe(true);
    expect(h.flushed).toEqual([
      { partition: 0, next: 5 },
      { partition: 0, next: 10 },
    ]);
  });

  it('holds a partition with two flushes at most: a third waits until the oldest ends', async () => {
    const h = harness({ concurrency: 3 });
    h.coalescer.enqueue(chunk(0, 0, 5));
    await tick();
    h.orders[0]!.released();
    h.coalescer.enqueue(chunk(0, 5, 5));
    await settle();
    h.orders[1]!.released();
    h.coalescer.enqueue(chunk(0, 10, 5));
    await settle();
    expect(h.groups).toEqual([['0@0+5'], ['0@5+5']]);
    h.release[0]!();
    await settle();
    expect(h.groups[2]).toEqual(['0@10+5']);
  });

  it('runs one flush past its transaction beside `concurrency` in theirs, not more: what a drain holds stays bounded', async () => {
    const h = harness({ concurrency: 1 });
    h.coalescer.enqueue(chunk(0, 0, 5));
    await tick();
    h.orders[0]!.released();
    h.coalescer.enqueue(chunk(1, 0, 5));
    await settle();
    h.orders[1]!.released();
    h.coalescer.enqueue(chunk(2, 0, 5));
    await settle();
    // Two publishing with a slot of one: the third waits for one of them to end.
    expect(h.groups).toEqual([['0@0+5'], ['1@0+5']]);
    h.release[0]!();
    await settle();
    expect(h.groups[2]).toEqual(['2@0+5']);
  });

  it('fails the flush after one that failed, rewinding only what that one did not, and flushes what is fetched again', async () => {
    const h = harness({ concurrency: 1 });
    h.coalescer.enqueue(chunk(0, 0, 5));
    await tick();
    h.orders[0]!.released();
    h.coalescer.enqueue(chunk(0, 5, 5));
    h.coalescer.enqueue(chunk(1, 0, 5));
    await settle();
    expect(h.groups[1]).toEqual(['0@5+5', '1@0+5']);
    h.release[0]!(new Error('audit refused'));
    await settle();
    // The first rewinds partition 0 from its own chunk; the second fails with it and rewinds partition 1 only.
    expect(h.failures.map((f) => [(f.error as Error).message, f.rewinds])).toEqual([
      ['audit refused', [{ topic: 't', partition: 0, offset: 0 }]],
      ['audit refused', [{ topic: 't', partition: 1, offset: 0 }]],
    ]);
    expect(h.flushed).toEqual([]);
    // What is fetched again does not wait for the flushes that failed.
    h.coalescer.enqueue(chunk(0, 0, 10));
    await settle();
    expect(h.groups[2]).toEqual(['0@0+10']);
    h.release[2]!();
    await settle();
    expect(h.flushed).toEqual([{ partition: 0, next: 10 }]);
  });

  it('lets what is fetched again after a failure publish without waiting for a flush that took the partition before it', async () => {
    const { processor, end: own, orders } = endedWhenTold();
    const h = harness({ concurrency: 1, processor });
    h.coalescer.enqueue(chunk(0, 0, 5));
    await tick();
    orders[0]!.released();
    h.coalescer.enqueue(chunk(0, 5, 5));
    await settle();
    // The first fails while the second is still in its transaction; the partition is fetched again.
    own[0]!(new Error('the broker refused the first flush'));
    await settle();
    h.coalescer.enqueue(chunk(0, 0, 10));
    orders[1]!.released();
    await settle();
    expect(orders).toHaveLength(3);
    let refetchedMayPublish = false;
    void orders[2]!.after.then(() => (refetchedMayPublish = true));
    await settle();
    expect(refetchedMayPublish).toBe(true);
    own[1]!(new EarlierFlushFailed(new Error('the broker refused the first flush')));
    own[2]!();
    await settle();
    // The second had nothing of its own to report; the refetched flush commits its offsets.
    expect(h.failures.map((f) => f.rewinds)).toEqual([[{ topic: 't', partition: 0, offset: 0 }]]);
    expect(h.flushed).toEqual([{ partition: 0, next: 10 }]);
  });

  it('leaves no rejection unobserved when a flush fails before it waited for the one before, and that one fails too', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      // A flush can fail in its transaction, before it looks at `order.after`.
      const { processor, end: own, orders } = endedWhenTold();
      const h = harness({ concurrency: 1, processor });
      h.coalescer.enqueue(chunk(0, 0, 5));
      await tick();
      orders[0]!.released();
      h.coalescer.enqueue(chunk(0, 5, 5));
      await settle();
      own[1]!(new Error('MySQL refused the second flush'));
      await settle();
      own[0]!(new Error('the broker refused the first flush'));
      await settle();
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(unhandled).toEqual([]);
      expect(h.failures.map((f) => (f.error as Error).message)).toEqual(['MySQL refused the second flush', 'the broker refused the first flush']);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('splits a decoded chunk at the same offset as its messages', () => {
    const [first, rest] = splitChunk(chunk(0, 10, 5), 2);
    expect(first.messages.map((m) => m.offset)).toEqual(['10', '11']);
    expect(first.decoded!.requests.map((r) => r.offset)).toEqual([10, 11]);
    expect(rest.decoded!.requests.map((r) => r.offset)).toEqual([12, 13, 14]);
  });

  it('pauses a partition whose queue is full and resumes it once a flush took from it', async () => {
    const h = harness({ queueMaxMessages: 20, maxMessages: 15 });
    h.coalescer.enqueue(chunk(0, 0, 10));
    await tick();
    h.coalescer.enqueue(chunk(0, 10, 25));
    expect(h.paused.has(0)).toBe(true);
    h.release.shift()!();
    await settle();
    // 25 queued, 15 taken by the next flush: 10 left, under the bound.
    expect(h.groups[1]).toEqual(['0@10+15']);
    expect(h.paused.has(0)).toBe(true);
    h.release.shift()!();
    await settle();
    expect(h.paused.has(0)).toBe(false);
  });

  it('hands offsets to the committer only after the flush is over, and none of a failed flush', async () => {
    const h = harness({ concurrency: 2 });
    h.coalescer.enqueue(chunk(0, 0, 5));
    await tick();
    h.coalescer.enqueue(chunk(0, 5, 5));
    h.coalescer.enqueue(chunk(1, 0, 5));
    await tick();
    expect(h.flushed).toEqual([]);
    h.release[1]!(new Error('refused'));
    await settle();
    expect(h.flushed).toEqual([]);
    expect(h.failures.map((f) => f.rewinds)).toEqual([[{ topic: 't', partition: 1, offset: 0 }]]);
    h.release[0]!();
    await settle();
    expect(h.flushed).toEqual([{ partition: 0, next: 5 }]);
  });

  it("drops what a failed flush's partitions hold, to be fetched again from the failed chunk", async () => {
    const h = harness();
    h.coalescer.enqueue(chunk(0, 0, 5));
    await tick();
    h.coalescer.enqueue(chunk(0, 5, 5));
    h.release.shift()!(new Error('refused'));
    await settle();
    expect(h.failures[0]!.rewinds).toEqual([{ topic: 't', partition: 0, offset: 0 }]);
    expect(h.groups).toHaveLength(1);
    expect(h.coalescer.idle).toBe(true);
  });

  it('after a rejoin, drops what it holds of lost partitions and resumes fetching kept ones after what it holds', async () => {
    const h = harness();
    h.coalescer.enqueue(chunk(0, 0, 5));
    await tick();
    h.coalescer.enqueue(chunk(0, 5, 5));
    h.coalescer.enqueue(chunk(1, 0, 7));
    h.owned.delete(1);
    expect(h.coalescer.reassigned()).toEqual([{ topic: 't', partition: 0, offset: 10 }]);
    h.release.shift()!();
    await settle();
    expect(h.groups[1]).toEqual(['0@5+5']);
  });

  it('commits no offset of a flush whose partition was lost meanwhile, even when a later join gives it back', async () => {
    const h = harness();
    h.coalescer.enqueue(chunk(3, 0, 5));
    await tick();
    // The join that takes partition 3 away comes while its flush runs; another member decides it on.
    h.owned.delete(3);
    expect(h.coalescer.reassigned()).toEqual([]);
    // A later join gives it back, fetched from the other member's commit, before the old flush ends.
    h.owned.add(3);
    h.coalescer.reassigned();
    h.coalescer.enqueue(chunk(3, 500, 4));
    h.release.shift()!();
    await settle();
    // The old flush's offset (5) would move the group back behind the other member's 500.
    expect(h.flushed).toEqual([]);
    expect(h.groups).toEqual([['3@0+5'], ['3@500+4']]);
    h.release.shift()!();
    await settle();
    expect(h.flushed).toEqual([{ partition: 3, next: 504 }]);
  });

  it('commits the offsets of a flush taken after a join gave the partition back, while one from before the loss still holds it', async () => {
    const h = harness();
    h.coalescer.enqueue(chunk(3, 0, 5));
    await tick();
    // Past its transaction, its audit records still out, when the partition goes and comes back.
    h.orders[0]!.released();
    h.owned.delete(3);
    h.coalescer.reassigned();
    h.owned.add(3);
    h.coalescer.reassigned();
    h.coalescer.enqueue(chunk(3, 500, 4));
    await settle();
    expect(h.groups).toEqual([['3@0+5'], ['3@500+4']]);
    h.release[0]!();
    h.release[1]!();
    await settle();
    // The old flush's offset (5) is not this member's to commit; the new flush's (504) is.
    expect(h.flushed).toEqual([{ partition: 3, next: 504 }]);
  });

  it('rewinds no partition lost during a failed flush, and keeps what a later join handed over', async () => {
    const h = harness();
    h.coalescer.enqueue(chunk(3, 0, 5));
    h.coalescer.enqueue(chunk(0, 0, 5));
    await tick();
    h.owned.delete(3);
    h.coalescer.reassigned();
    h.owned.add(3);
    h.coalescer.reassigned();
    h.coalescer.enqueue(chunk(3, 500, 4));
    h.release.shift()!(new Error('refused'));
    await settle();
    expect(h.failures.map((f) => f.rewinds)).toEqual([[{ topic: 't', partition: 0, offset: 0 }]]);
    expect(h.groups[1]).toEqual(['3@500+4']);
  });

  it('drops overlapping messages a refetch hands over again', async () => {
    const h = harness();
    h.coalescer.enqueue(chunk(0, 0, 5));
    await tick();
    h.coalescer.enqueue(chunk(0, 3, 5));
    h.release.shift()!();
    await settle();
    expect(h.groups[1]).toEqual(['0@5+3']);
  });

  it('on close, drops what is queued and waits for the flushes running', async () => {
    const h = harness();
    h.coalescer.enqueue(chunk(0, 0, 5));
    await tick();
    h.coalescer.enqueue(chunk(0, 5, 5));
    let closed = false;
    const closing = h.coalescer.close().then(() => (closed = true));
    await settle();
    expect(closed).toBe(false);
    h.release.shift()!();
    await closing;
    expect(h.groups).toHaveLength(1);
    expect(h.flushed).toEqual([{ partition: 0, next: 5 }]);
  });

  it('lifts a hold that no join ends once the group accepts a heartbeat, and flushes what it holds', async () => {
    const h = harness();
    h.coalescer.enqueue(chunk(0, 0, 5));
    await tick();
    h.coalescer.enqueue(chunk(0, 5, 5));
    h.coalescer.enqueue(chunk(1, 0, 3));
    const settled = h.coalescer.settle(1000);
    h.release.shift()!();
    await settled;
    await settle();
    // Held: KafkaJS fetches on in the same generation (no join), and nothing is flushed.
    expect(h.groups).toHaveLength(1);
    expect(h.coalescer.release()).toBe(true);
    await settle();
    expect(h.groups[1]).toEqual(['0@5+5', '1@0+3']);
    // Nothing was held any more: a heartbeat without a hold changes nothing.
    expect(h.coalescer.release()).toBe(false);
  });

  it('starts no new flush between a rebalance seen and the join that follows it', async () => {
    const h = harness();
    h.coalescer.enqueue(chunk(0, 0, 5));
    await tick();
    h.coalescer.enqueue(chunk(0, 5, 5));
    const settled = h.coalescer.settle(1000);
    h.release.shift()!();
    await settled;
    await settle();
    expect(h.groups).toHaveLength(1);
    h.coalescer.reassigned();
    await settle();
    expect(h.groups[1]).toEqual(['0@5+5']);
  });
});
