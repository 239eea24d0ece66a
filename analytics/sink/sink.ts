import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import type { DuckDBConnection } from '@duckdb/node-api';
import type { Consumer, KafkaMessage } from 'kafkajs';

import { StopRequest } from '../../cli/stop-request.js';
import { waitForDrain } from '../../consumers/drain.js';
import { campaignsOf } from '../../lib/coupon-catalog.js';
import { withAdmin } from '../../lib/kafka.js';
import type { Runtime } from '../../lib/runtime.js';
import type { RedemptionDecided } from '../../schemas/types.js';
import { withDuckDB } from '../duckdb.js';
import { firstOfEachSource } from '../first-of-each-source.js';
import { type ChunkName, LAYOUT_FOLDER } from '../layout.js';
import { landedSources, lastChunks } from './landed.js';
import type { SinkOptions, SinkSummary } from './options.js';
import { removeTemporaryFiles, writeChunk } from './parquet-files.js';
import { type DecisionRow, decisionRow, isVersion1 } from './rows.js';

/*
 * How the sink keeps every decision exactly once in the files
 * - The files are the record of progress. Each time the member joins its group, it seeks each partition
 *   it was given to the first offset of the last chunk landed for it (the highest offset range in the
 *   file names; no file: the partition's beginning) and lands that chunk again, under the same names:
 *   that completes a chunk a crash interrupted between the renames of its hours' files. The group's
 *   committed offset follows each landed chunk, so the group's lag is the sink's.
 * - A chunk is written to temporary files and then renamed: a reader sees all of a file or none of it.
 * - A source record (requests-topic partition and offset) lands once: the records a redelivery or a
 *   replay re-emits repeat one already landed, from the same audit partition (the same coupon key), and
 *   are skipped against the sources landed below the chunk, read from the files.
 * - Several sinks may share a group and a folder: each lands only the partitions it holds.
 */

interface PartitionState {
  /** The next offset to take (earlier ones are landed or pending). */
  next: number;
  pending: KafkaMessage[];
  /** While repairing: the last offset of the chunk landed again, whose end it must keep. */
  relandUntil?: number;
  first: ReturnType<typeof firstOfEachSource>;
  /** Nothing taken yet since the join. */
  fresh: boolean;
  /** Batches that began past `next` while fresh (fetched before the join's seek took effect), ignored. */
  early: number;
}

class AuditSink {
  private readonly partitions = new Map<number, PartitionState>();
  readonly summary: SinkSummary = { records: 0, rows: 0, repeats: 0, files: 0 };
  lastActivity = Date.now();
  /** Joined its group at least once: before that, it is not idle but waiting. */
  joined = false;

  constructor(
    private readonly rt: Runtime,
    private readonly db: DuckDBConnection,
    private readonly consumer: Consumer,
    private readonly root: string,
    /** Per partition, the last chunk landed: from the files at start, then as landed. */
    private readonly last: Map<number, ChunkName>,
    private readonly o: SinkOptions,
  ) {}

  private get topic(): string {
    return this.rt.config.auditTopic;
  }

  /** After a join: every partition it holds starts again at its last landed chunk. */
  onJoin(assigned: readonly number[]): void {
    this.joined = true;
    this.lastActivity = Date.now();
    this.partitions.clear();
    for (const partition of assigned) this.consumer.seek({ topic: this.topic, partition, offset: String(this.last.get(partition)?.first ?? 0) });
  }

  private async state(partition: number): Promise<PartitionState> {
    let state = this.partitions.get(partition);
    if (state) return state;
    const landed = this.last.get(partition);
    const first = firstOfEachSource();
    if (landed) for (const source of await landedSources(this.db, this.root, this.topic, partition, landed.first)) first(source);
    state = { next: landed?.first ?? 0, pending: [], relandUntil: landed?.last, first, fresh: true, early: 0 };
    this.partitions.set(partition, state);
    return state;
  }

  /** Takes a batch's new messages and lands every chunk they complete. */
  async onBatch(partition: number, messages: readonly KafkaMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const state = await this.state(partition);
    // Fetched before the join's seek took effect: wait for the batch from the seek (twice at most; a
    // partition whose first records are gone, by retention, begins later for good).
    if (state.fresh && Number(messages[0]!.offset) > state.next && state.early < 2) {
      state.early += 1;
      this.consumer.seek({ topic: this.topic, partition, offset: String(state.next) });
      return;
    }
    const fresh = messages.filter((m) => Number(m.offset) >= state.next);
    if (fresh.length === 0) return;
    state.fresh = false;
    state.pending.push(...fresh);
    state.next = Number(fresh[fresh.length - 1]!.offset) + 1;
    this.lastActivity = Date.now();
    for (;;) {
      const size = this.nextChunkSize(state);
      if (size === 0) break;
      await this.land(partition, state.pending.splice(0, size), state);
      state.relandUntil = undefined;
      this.lastActivity = Date.now();
    }
  }

  /** How many pending messages make the next chunk; 0 while a chunk being landed again is incomplete. */
  private nextChunkSize(state: PartitionState): number {
    if (state.pending.length === 0) return 0;
    if (state.relandUntil === undefined) return Math.min(state.pending.length, this.o.maxRowsPerChunk);
    const end = state.pending.findIndex((m) => Number(m.offset) >= state.relandUntil!);
    if (end < 0) return 0;
    // The chunk's last offset is gone (retention): land what there is.
    return Number(state.pending[end]!.offset) === state.relandUntil ? end + 1 : Math.max(end, 1);
  }

  private async land(partition: number, messages: KafkaMessage[], state: PartitionState): Promise<void> {
    const decoder = this.rt.registry().decoderFor<RedemptionDecided>('decided');
    const decided: { record: RedemptionDecided; offset: number }[] = [];
    for (const message of messages) {
      if (message.value === null) continue;
      this.summary.records += 1;
      const record = await decoder.decode(message.value);
      if (state.first(record)) decided.push({ record, offset: Number(message.offset) });
      else this.summary.repeats += 1;
    }
    const version1 = [...new Set(decided.filter((d) => isVersion1(d.record)).map((d) => d.record.coupon_code))];
    const campaigns = version1.length > 0 ? await campaignsOf(this.rt.knex(), version1) : new Map<string, string>();
    const rows: DecisionRow[] = decided.map((d) => decisionRow(d.record, { partition, offset: d.offset }, campaigns.get(d.record.coupon_code) ?? null));
    const first = Number(messages[0]!.offset);
    const last = Number(messages[messages.length - 1]!.offset);
    const files = await writeChunk(this.db, this.root, { topic: this.topic, partition, first, last, rows });
    this.last.set(partition, { topic: this.topic, partition, first, last });
    await this.consumer.commitOffsets([{ topic: this.topic, partition, offset: String(last + 1) }]);
    this.summary.rows += rows.length;
    this.summary.files += files.length;
    this.o.onChunk?.({ partition, first, last, rows: rows.length, files });
  }
}

/**
 * `redeem audit sink`: lands the audit stream as Parquet under `dir` (analytics/layout.ts), one row
 * per decided source record, following it until SIGTERM or until the whole topic is landed and idle.
 */
export async function runAuditSink(rt: Runtime, o: SinkOptions): Promise<SinkSummary> {
  const topic = rt.config.auditTopic;
  const root = join(o.dir, LAYOUT_FOLDER);
  await mkdir(root, { recursive: true });
  const removed = await removeTemporaryFiles(root);
  if (removed > 0) rt.logger.info({ removed }, 'removed the temporary files of an interrupted run');
  const last = await lastChunks(root, topic);
  const kafka = rt.kafka('redeem-audit-sink');
  const stop = new StopRequest('the files hold every chunk landed; the next run goes on from them');
  try {
    return await withDuckDB(async (db) => {
      // A short session: a sink killed with SIGKILL holds its partitions from the next one for 10 s.
      const consumer = kafka.consumer({
        groupId: o.groupId,
        maxWaitTimeInMs: o.maxWaitMs,
        minBytes: 1 << 20,
        maxBytes: 16 << 20,
        sessionTimeout: 10_000,
        rebalanceTimeout: 10_000,
        heartbeatInterval: 1000,
      });
      const sink = new AuditSink(rt, db, consumer, root, last, o);
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => sink.onJoin(payload.memberAssignment[topic] ?? []));
      await consumer.connect();
      try {
        await consumer.subscribe({ topic, fromBeginning: true });
        await consumer.run({ autoCommit: false, eachBatch: ({ batch }) => sink.onBatch(batch.partition, batch.messages) });
        if (o.exitWhenIdle === undefined) await stop.stopped;
        else
          await withAdmin(kafka, (admin) =>
            waitForDrain({
              admin,
              groupId: o.groupId,
              topic,
              idleSeconds: o.exitWhenIdle!,
              idleMs: () => (sink.joined ? Date.now() - sink.lastActivity : 0),
              abandon: stop.stopped,
            }),
          );
      } finally {
        await consumer.disconnect();
      }
      return sink.summary;
    });
  } finally {
    stop.dispose();
  }
}
