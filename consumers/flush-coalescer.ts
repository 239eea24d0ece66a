import type { KafkaMessage } from 'kafkajs';

import type { FlushOrder, FlushTimings, PartitionChunk } from './batch-processor.js';
import type { DecodedBatch } from './decode.js';
import type { OffsetCommitter } from './offset-committer.js';
import type { StageHistogram } from './stage-histogram.js';

/** Consecutive messages of one partition, fetched and (when it could be) decoded, waiting for a flush. */
export interface FetchedChunk {
  topic: string;
  partition: number;
  messages: readonly KafkaMessage[];
  /** null: decoding must be retried in the flush (the registry did not answer). */
  decoded: DecodedBatch | null;
  /** The topic's partition count when fetched (partition contract). */
  partitionCount?: number;
  /** The partition's high watermark as the fetch saw it (lag reporting). */
  highWatermark: number;
  /** When it was handed to the consumer, and when its decoding ended (ms since the epoch). */
  fetchedAt: number;
  decodedAt: number;
}

interface PartitionQueue {
  topic: string;
  partition: number;
  chunks: FetchedChunk[];
  messages: number;
  /**
   * A flush has taken this partition and its MySQL transaction is not over: its next chunks wait
   * (per-coupon order). Once it is over (the flush's `released`), the next flush may take them while the
   * first one's audit records and Redis update are still out.
   */
  busy: boolean;
  /** Flushes holding this partition until they end: at most two, one of them past its transaction. */
  holders: number;
  /**
   * The end of the last flush that took this partition (its offsets handed over), which the next
   * flush's audit records wait for; it rejects with EarlierFlushFailed when that flush failed.
   */
  tail: Promise<void> | null;
  /** Times the partition was dropped and fetched again after a failure: a flush taken before it does not rewind it again. */
  rewinds: number;
  /** Fetching stopped because the queue is full. */
  paused: boolean;
  /** The offset after the last message held (queued or in a flush), null when nothing is held. */
  position: number | null;
  /**
   * Times the partition was lost while flushes held it. A flush during which it was lost has offsets
   * that are not this member's to commit, even when a later join gives the partition back (a flush
   * taken after that join commits its own). The member that owned it meanwhile has
   * committed further, and a commit of the older offset would move the group back behind what it
   * already decided (seen: a 2-process drain left 75,687 messages of three partitions uncommitted, with
   * the fetch positions at their ends, so the drain never finished).
   */
  losses: number;
}

/** A chunk that was processed, for the caller's bookkeeping. */
export interface FlushedChunk {
  topic: string;
  partition: number;
  messages: number;
  firstOffset: number;
  nextOffset: number;
  highWatermark: number;
  createTimes: readonly number[];
}

/** Where the fetch must start again for a partition whose held messages were dropped. */
export interface Rewind {
  topic: string;
  partition: number;
  offset: number;
}

export interface FlushCoalescerOptions {
  /** Runs one flush (decode what is not decoded, dedupe, decide, write, publish). */
  processor: { process(parts: readonly PartitionChunk[], order?: FlushOrder): Promise<FlushTimings> };
  /** Where flushed offsets go (null: a dry run, which commits nothing). */
  committer: OffsetCommitter | null;
  /** Most messages in one flush: FLUSH_MAX_MESSAGES. */
  maxMessages: number;
  /** Flushes at once, on disjoint partitions: FLUSH_CONCURRENCY. */
  concurrency: number;
  /** Messages a partition may hold before its fetching is paused: FETCH_QUEUE_MAX_MESSAGES. */
  queueMaxMessages: number;
  /** Stop and restart fetching a partition (KafkaJS pause/resume). */
  pause(topic: string, partition: number): void;
  resume(topic: string, partition: number): void;
  /** True while this member owns the partition (what is held of others is dropped at a rejoin). */
  owns(topic: string, partition: number): boolean;
  /** A flush is over (after its audit records were acknowledged), `seconds` after it started. */
  onFlushed?(chunks: readonly FlushedChunk[], timings: FlushTimings, seconds: number): void;
  /** A flush failed: its partitions' held messages were dropped and must be fetched again from `rewinds`. */
  onFailed(error: unknown, rewinds: readonly Rewind[]): void;
  stages?: StageHistogram;
}

/**
 * The bounded in-process queue between fetching and flushing, and group commit across partitions.
 *
 * The consumer hands each fetched chunk over at once (decoded) and goes on fetching, so reading the next
 * records overlaps the current flush's I/O. A partition holds at most about `queueMaxMessages` messages:
 * past that its fetching is paused until a flush takes them. A flush takes whatever is queued on the
 * partitions no flush is working on, oldest first, up to `maxMessages` ("natural" batching: one request
 * under light load, the cap under a backlog), as one transaction, one Redis round trip each way and one
 * produce; up to `concurrency` flushes run at once, on disjoint partitions. A coupon lives in one
 * partition, and a partition's messages are flushed one flush after the other, in offset order, so
 * per-coupon order holds. Once a flush is over, its offsets go to the committer (background commits).
 *
 * A partition's next flush need not wait for the whole of the one before: once that one's MySQL
 * transaction is over (`FlushOrder.released`), the next takes the partition and locks, reads and
 * decides while the first one's audit records and Redis update are still out; its own audit records
 * go only after the first one has ended (`FlushOrder.after`), so a coupon's audit records keep their
 * order and its offsets are handed over in order. A partition is held by at most two flushes, so what
 * is held while Kafka does not take the audit records stays bounded.
 */
export class FlushCoalescer {
  private readonly queues = new Map<string, PartitionQueue>();
  private readonly flushes = new Set<Promise<void>>();
  /** Flushes whose MySQL transaction is not over: the ones `concurrency` bounds. */
  private transacting = 0;
  private scheduled = false;
  private closed = false;
  /** No new flush starts (a rejoin is under way: what is queued may belong to another member next). */
  private held = false;

  constructor(private readonly o: FlushCoalescerOptions) {}

  /** Queues a fetched chunk (messages in offset order, after what the partition holds). */
  enqueue(fetched: FetchedChunk): void {
    if (this.closed) return;
    const q = this.queueOf(fetched.topic, fetched.partition);
    // What the partition holds already (a refetch before a new fetch position applied) is not taken twice.
    const held = q.position === null ? 0 : fetched.messages.findIndex((m) => Number(m.offset) >= q.position!);
    if (held === -1) return;
    const chunk = held === 0 ? fetched : splitChunk(fetched, held)[1];
    q.chunks.push(chunk);
    q.messages += chunk.messages.length;
    q.position = Number(chunk.messages[chunk.messages.length - 1]!.offset) + 1;
    if (!q.paused && q.messages >= this.o.queueMaxMessages) {
      q.paused = true;
      this.o.pause(q.topic, q.partition);
    }
    this.schedule();
  }

  /** Messages held (queued or in a flush) and flushes running. */
  get idle(): boolean {
    return this.flushes.size === 0 && [...this.queues.values()].every((q) => q.chunks.length === 0);
  }

  /**
   * After a rejoin: drops what is held of partitions no longer owned (in-flight flushes finish; their
   * offsets are not committed by this member) and says where fetching must resume for the partitions
   * kept, so that what is held is neither fetched twice nor skipped. Paused state is made to match.
   */
  reassigned(): Rewind[] {
    this.held = false;
    this.schedule();
    const resumeAt: Rewind[] = [];
    for (const [k, q] of this.queues) {
      if (!this.o.owns(q.topic, q.partition)) {
        q.chunks = [];
        q.messages = 0;
        q.position = null;
        if (q.holders > 0) q.losses += 1;
        if (q.paused) this.o.resume(q.topic, q.partition);
        q.paused = false;
        if (q.holders === 0) this.queues.delete(k);
        continue;
      }
      if (q.position !== null) resumeAt.push({ topic: q.topic, partition: q.partition, offset: q.position });
      if (q.paused) this.o.pause(q.topic, q.partition);
    }
    return resumeAt;
  }

  /** Drops what is queued and waits for the flushes running (a stop); nothing is queued afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queues.values()) {
      q.chunks = [];
      q.messages = 0;
    }
    while (this.flushes.size > 0) await Promise.allSettled([...this.flushes]);
  }

  /**
   * Before a rejoin: starts no new flush until the join says which partitions stay (`reassigned`), and
   * waits (at most `timeoutMs`) for the flushes running now.
   */
  async settle(timeoutMs: number): Promise<void> {
    this.held = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.flushes]), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  /**
   * A hold (`settle`) that no join ends: the group accepted the member's heartbeat in its generation, so
   * its assignment stands and what it holds is still its own to flush. KafkaJS rejoins after a batch
   * throws a rejoin error only when that error is the first its fetchers fail with; when another wins
   * (a connection refused by the broker that just stopped, in a rolling restart), it fetches on in the
   * same generation, and a hold kept for a join that never comes stalled every partition for good.
   * Returns true when there was a hold to lift.
   */
  release(): boolean {
    if (!this.held) return false;
    this.held = false;
    this.schedule();
    return true;
  }

  private queueOf(topic: string, partition: number): PartitionQueue {
    const k = `${topic}\u0000${partition}`;
    let q = this.queues.get(k);
    if (!q)
      this.queues.set(
        k,
        (q = { topic, partition, chunks: [], messages: 0, busy: false, holders: 0, tail: null, rewinds: 0, paused: false, position: null, losses: 0 }),
      );
    return q;
  }

  private schedule(): void {
    if (this.scheduled || this.closed || this.held) return;
    this.scheduled = true;
    // Let every chunk of the fetch in hand be queued first: they go into one flush.
    setImmediate(() => {
      this.scheduled = false;
      while (!this.closed && !this.held && this.transacting < this.o.concurrency && this.flushes.size < this.o.concurrency + PUBLISHING_BESIDE) {
        const group = this.take(this.o.concurrency - this.transacting);
        if (group.length === 0) break;
        const flush = this.flush(group);
        this.flushes.add(flush);
        void flush.finally(() => this.flushes.delete(flush));
      }
    });
  }

  /**
   * What a flush takes: queued chunks of free partitions, the oldest first, up to `maxMessages`; and when
   * there is enough for several flushes (SPLIT_MIN_MESSAGES each), at most its share of the ready
   * partitions among the `freeSlots` flushes that may start now. Without the share, one flush that took
   * every partition kept them all busy until it ended, when the next took them all again: one flush at a
   * time for good, each larger and slower (a paced load settled in that regime or in several smaller
   * flushes at once, and stayed there). Under light load one flush still takes everything: a flush's
   * fixed cost (its round trips) would be paid several times over for a few requests.
   */
  private take(freeSlots: number): Taken[] {
    const ready = [...this.queues.values()]
      .filter((q) => !q.busy && q.holders < 2 && q.chunks.length > 0)
      .sort((a, b) => a.chunks[0]!.decodedAt - b.chunks[0]!.decodedAt);
    const readyMessages = ready.reduce((n, q) => n + q.messages, 0);
    const flushes = Math.min(freeSlots, Math.max(1, Math.floor(readyMessages / SPLIT_MIN_MESSAGES)));
    const share = Math.ceil(ready.length / flushes);
    const group: Taken[] = [];
    let room = this.o.maxMessages;
    for (const q of ready) {
      if (room === 0 || group.length === share) break;
      const taken: FetchedChunk[] = [];
      while (room > 0 && q.chunks.length > 0) {
        const head = q.chunks[0]!;
        if (head.messages.length <= room) {
          taken.push(q.chunks.shift()!);
          room -= head.messages.length;
        } else {
          const [first, rest] = splitChunk(head, room);
          taken.push(first);
          q.chunks[0] = rest;
          room = 0;
        }
      }
      for (const c of taken) q.messages -= c.messages.length;
      q.busy = true;
      group.push({ q, chunks: taken, rewinds: q.rewinds, losses: q.losses });
    }
    return group;
  }

  private async flush(group: readonly Taken[]): Promise<void> {
    const startedAt = Date.now();
    const stages = this.o.stages;
    const parts: PartitionChunk[] = [];
    for (const { q, chunks } of group) {
      for (const c of chunks) stages?.observe('queued', (startedAt - c.decodedAt) / 1000, c.messages.length);
      parts.push(mergeChunks(q, chunks));
    }
    const before = group.flatMap(({ q }) => (q.tail ? [q.tail] : []));
    const after = Promise.all(before).then(() => {});
    // A flush that fails before it waits for `after` (in its transaction) leaves it unobserved; an
    // earlier flush's failure is reported by that flush.
    after.catch(() => {});
    let ended!: { resolve(): void; reject(error: unknown): void };
    const end = new Promise<void>((resolve, reject) => (ended = { resolve, reject }));
    // Observed by the next flush of these partitions, if there is one.
    end.catch(() => {});
    for (const { q } of group) {
      q.holders += 1;
      q.tail = end;
    }
    this.transacting += 1;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.transacting -= 1;
      for (const { q } of group) q.busy = false;
      this.schedule();
    };
    try {
      // mutant: commit-before-mysql
      const timings = await this.o.processor.process(parts, { released: release, after });
      const endedAt = Date.now();
      const flushed: FlushedChunk[] = [];
      for (const { q, chunks, losses } of group) {
        const messages = chunks.flatMap((c) => c.messages);
        const nextOffset = Number(messages[messages.length - 1]!.offset) + 1;
        flushed.push({
          topic: q.topic,
          partition: q.partition,
          messages: messages.length,
          firstOffset: Number(messages[0]!.offset),
          nextOffset,
          highWatermark: chunks[chunks.length - 1]!.highWatermark,
          createTimes: messages.map((m) => Number(m.timestamp)),
        });
        // Only now, with the decisions in MySQL and the audit records acknowledged, may the offsets go;
        // and only while the partition has stayed this member's since the flush began.
        if (q.losses === losses) this.o.committer?.flushed(q.topic, q.partition, nextOffset, messages.length, endedAt);
      }
      ended.resolve();
      this.o.onFlushed?.(flushed, timings, (endedAt - startedAt) / 1000);
    } catch (error) {
      ended.reject(error instanceof EarlierFlushFailed ? error : new EarlierFlushFailed(error));
      const rewinds: Rewind[] = [];
      for (const { q, chunks, rewinds: seen, losses } of group) {
        // A partition lost meanwhile is fetched by its owner from the group's offset; what it holds now
        // (given back by a later join) was fetched after that and stays. One an earlier flush failed on
        // was dropped and fetched again from that flush's chunk already, before this one's.
        if (q.losses !== losses || q.rewinds !== seen) continue;
        // Everything the partition holds is dropped and fetched again, from the failed chunk on.
        rewinds.push({ topic: q.topic, partition: q.partition, offset: Number(chunks[0]!.messages[0]!.offset) });
        q.chunks = [];
        q.messages = 0;
        q.position = null;
        q.rewinds += 1;
        // What is fetched again does not wait for the flushes that took the partition before.
        q.tail = null;
      }
      // A flush that failed only because an earlier one did has nothing of its own to report.
      if (rewinds.length > 0 || !(error instanceof EarlierFlushFailed)) this.o.onFailed(error instanceof EarlierFlushFailed ? error.cause : error, rewinds);
    } finally {
      release();
      for (const { q } of group) {
        q.holders -= 1;
        if (q.tail === end) q.tail = null;
        if (q.paused && q.messages < this.o.queueMaxMessages) {
          q.paused = false;
          this.o.resume(q.topic, q.partition);
        }
        if (q.holders === 0 && q.chunks.length === 0 && !this.o.owns(q.topic, q.partition)) this.queues.delete(`${q.topic}\u0000${q.partition}`);
      }
      this.schedule();
    }
  }
}

/** Chunks of one partition a flush took, and how many times the partition had been rewound and lost then. */
interface Taken {
  q: PartitionQueue;
  chunks: FetchedChunk[];
  rewinds: number;
  losses: number;
}

/** A flush that could not publish because an earlier flush of one of its partitions failed. */
export class EarlierFlushFailed extends Error {
  constructor(cause: unknown) {
    super(`an earlier flush of the same partition failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'EarlierFlushFailed';
  }
}

/**
 * Flushes past their transaction (publishing) that may run beside `concurrency` flushes in theirs. Each
 * holds up to FLUSH_MAX_MESSAGES requests and their audit records, so this bounds what a consumer holds
 * in flushes to `concurrency` + 1 of them, one more than before a flush could publish beside the next,
 * whatever Kafka's acknowledgements take. Under a paced load one flush publishing while the next
 * decides is the overlap that counts. Alternated drains with and without the bound peaked at 236.8-259.9
 * and 242.6-261.4 MiB: the same within the spread (docs/performance.md, 2026-12-07 00:22 UTC).
 */
const PUBLISHING_BESIDE = 1;

/**
 * The fewest messages for which a flush of their own is worth starting beside another. A flush has a
 * fixed cost on the host (two MySQL round trips and a transaction, two Redis, a produce): alternated at
 * 12,000/s, half the drain, 250 made a third fewer flushes than 100 and took 0.1-0.2 of a core less
 * (MariaDB 0.38-0.39 cores against 0.41-0.47), at the same latency within the runs' spread
 * (docs/performance.md, 2026-12-06 20:54 UTC).
 */
const SPLIT_MIN_MESSAGES = 250;

/** One partition's chunks of a flush as one chunk for the processor (decoded parts joined when all are). */
function mergeChunks(q: PartitionQueue, chunks: readonly FetchedChunk[]): PartitionChunk {
  const first = chunks[0]!;
  if (chunks.length === 1)
    return { topic: q.topic, partition: q.partition, messages: first.messages, decoded: first.decoded, partitionCount: first.partitionCount };
  const allDecoded = chunks.every((c) => c.decoded !== null);
  return {
    topic: q.topic,
    partition: q.partition,
    messages: chunks.flatMap((c) => c.messages),
    decoded: allDecoded ? { requests: chunks.flatMap((c) => c.decoded!.requests), deadLetters: chunks.flatMap((c) => c.decoded!.deadLetters) } : null,
    partitionCount: chunks[chunks.length - 1]!.partitionCount,
  };
}

/** The first `n` messages of a chunk and the rest, their decoded parts split at the same offset. */
export function splitChunk(c: FetchedChunk, n: number): [FetchedChunk, FetchedChunk] {
  const boundary = Number(c.messages[n]!.offset);
  const split = (decoded: DecodedBatch | null, before: boolean): DecodedBatch | null =>
    decoded === null
      ? null
      : {
          requests: decoded.requests.filter((r) => r.offset < boundary === before),
          deadLetters: decoded.deadLetters.filter((d) => Number(d.message.offset) < boundary === before),
        };
  return [
    { ...c, messages: c.messages.slice(0, n), decoded: split(c.decoded, true) },
    { ...c, messages: c.messages.slice(n), decoded: split(c.decoded, false) },
  ];
}
