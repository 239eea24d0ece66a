/**
 * `redeem dlq redrive`: dead letters' requests sent again to the requests topic, each origin once ever.
 */
import type { IHeaders, Kafka, KafkaMessage } from 'kafkajs';

import { deadLetterTopic } from '../../lib/config.js';
import { UnprocessableMessageError } from '../../lib/errors.js';
import { currentRanges, readRanges, withAdmin } from '../../lib/kafka.js';
import { ProgressBar } from '../../lib/progress.js';
import type { Runtime } from '../../lib/runtime.js';
import { RedemptionProducer } from '../../producers/redemption-producer.js';
import { murmur2Partition } from '../../schemas/partitioning.js';
import { requestProblems } from '../../schemas/request-validation.js';
import type { RedemptionRequested } from '../../schemas/types.js';
import { Interrupted } from '../failures.js';
import { StopRequest } from '../stop-request.js';

export interface RedriveOptions {
  /** Only dead letters with this `dlq.code`. */
  code?: string;
  /** Only dead letters written to the dead-letter topic at or after this time. */
  since?: Date;
  dryRun: boolean;
  progress: boolean;
}

export interface RedriveSummary {
  /** Dead letters in the topic when the run started. */
  deadLetters: number;
  /** Of those, the ones the filters (--code, --since) select. */
  selected: number;
  /** Selected dead letters of a message already dead-lettered earlier in the topic (one origin, counted once). */
  repeats: number;
  alreadyRedriven: number;
  /** Copies that a redrive sent and that were dead-lettered again: never sent round again. */
  redrivenCopies: number;
  /** Still not a valid request (undecodable, invalid): left where they are, by code. */
  refused: Map<string, number>;
  /** Sent again (or, in a dry run, that would be), by code. */
  redriven: Map<string, number>;
  /** A truncated dead letter whose original is no longer in the requests topic. */
  missingOriginals: number;
  dryRun: boolean;
}

export interface DeadLetterRecord {
  code: string;
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: number;
  truncated: boolean;
  key: Buffer | null;
  value: Buffer | null;
}

const header = (headers: IHeaders | undefined, name: string): string | undefined => {
  const value = headers?.[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first?.toString();
};

/**
 * `redeem dlq redrive`: sends dead letters' requests again to the requests topic, through the project's
 * own producer (validated, keyed by coupon code, partitioned by murmur2), so that after a misbehaving
 * producer is fixed, what it sent is decided, once, in the order it was first produced.
 *
 * - Each origin (the message's place in the requests topic) is sent at most once, ever: the
 *   `redriven_dead_letters` table remembers what was sent, and a crash between the broker's ack and that
 *   record costs at most a second copy, which the pipeline decides as a DUPLICATE of the first (same
 *   request id): effects still happen once.
 * - A dead letter holding a truncated copy (`dlq.truncated`) is sent from its original, read from the
 *   requests topic at `dlq.partition`/`dlq.offset`.
 * - Still-invalid dead letters are refused before anything is sent and stay where they are; a copy a
 *   redrive sent that was dead-lettered again is never sent round again.
 * - Order: the requests are sent in their origin order (per partition, by offset), which is the order
 *   their producer sent each coupon's requests in.
 */
export async function redrive(rt: Runtime, o: RedriveOptions): Promise<RedriveSummary> {
  // Ctrl-C: the batch in flight is acknowledged and recorded, then it stops and says how far it got.
  const stop = new StopRequest('a batch sent but not yet recorded is sent again by the next run, and decided as a DUPLICATE');
  try {
    return await redriveUntil(rt, o, stop);
  } finally {
    stop.dispose();
  }
}

async function redriveUntil(rt: Runtime, o: RedriveOptions, stop: StopRequest): Promise<RedriveSummary> {
  const requestsTopic = rt.config.redemptionTopic;
  const kafka = rt.kafka('redeem-redrive');
  const letters = await readWholeTopic(kafka, deadLetterTopic(requestsTopic), o.progress, stop.stopped);
  if (stop.requested) throw new Interrupted('interrupted: stopped while reading the dead letters, before sending any; run it again');
  const summary: RedriveSummary = {
    deadLetters: letters.length,
    selected: 0,
    repeats: 0,
    alreadyRedriven: 0,
    redrivenCopies: 0,
    refused: new Map(),
    redriven: new Map(),
    missingOriginals: 0,
    dryRun: o.dryRun,
  };
  const redriven = await loadRedriven(rt, requestsTopic);
  const candidates = selectDeadLetters(
    letters.map((l) => l.message),
    requestsTopic,
    redriven,
    o,
    summary,
  );
  await fillTruncated(kafka, requestsTopic, candidates, summary);
  // In origin order: per partition by offset, so each coupon's requests go out in the order first produced.
  candidates.sort((a, b) => a.sourcePartition - b.sourcePartition || a.sourceOffset - b.sourceOffset);
  const ready = await validRequests(rt, candidates, summary);
  if (o.dryRun) {
    for (const { letter } of ready) count(summary.redriven, letter.code);
    return summary;
  }
  if (ready.length > 0) await sendAgain(rt, kafka, ready, o, summary, stop);
  return summary;
}

type Ready = { letter: DeadLetterRecord; request: RedemptionRequested };

/** What earlier redrives sent, from the `redriven_dead_letters` table. */
async function loadRedriven(rt: Runtime, requestsTopic: string): Promise<RedrivenRecord[]> {
  const rows = (await rt
    .knex()('redriven_dead_letters')
    .where({ source_topic: requestsTopic })
    .select('source_partition', 'source_offset', 'target_partition', 'target_offset')) as {
    source_partition: number;
    source_offset: number | string;
    target_partition: number;
    target_offset: number | string;
  }[];
  return rows.map((r) => ({
    sourcePartition: r.source_partition,
    sourceOffset: Number(r.source_offset),
    targetPartition: r.target_partition,
    targetOffset: Number(r.target_offset),
  }));
}

/** Truncated copies get their original's value: it is still in the requests topic (kept forever). */
async function fillTruncated(kafka: Kafka, requestsTopic: string, candidates: DeadLetterRecord[], summary: RedriveSummary): Promise<void> {
  const truncated = candidates.filter((c) => c.truncated);
  if (truncated.length === 0) return;
  const originals = await readOffsets(
    kafka,
    requestsTopic,
    truncated.map((c) => ({ partition: c.sourcePartition, offset: c.sourceOffset })),
  );
  for (const c of truncated) {
    const original = originals.get(`${c.sourcePartition}/${c.sourceOffset}`);
    c.value = original?.value ?? null;
    if (!original) summary.missingOriginals += 1;
  }
}

/** The candidates that decode and validate as requests; the others counted as refused. */
async function validRequests(rt: Runtime, candidates: readonly DeadLetterRecord[], summary: RedriveSummary): Promise<Ready[]> {
  const decoder = rt.registry().decoderFor<RedemptionRequested>('requested');
  const ready: Ready[] = [];
  for (const letter of candidates) {
    if (letter.value === null) {
      if (!letter.truncated) count(summary.refused, letter.code);
      continue;
    }
    try {
      const request = await decoder.decode(letter.value);
      if (requestProblems(request).length > 0) throw new UnprocessableMessageError('REQUEST_INVALID', 'invalid');
      ready.push({ letter, request });
    } catch (error) {
      if (!(error instanceof UnprocessableMessageError)) throw error;
      count(summary.refused, letter.code);
    }
  }
  return ready;
}

/** Sends the requests in calls of 500, recording after each where every copy went. */
async function sendAgain(rt: Runtime, kafka: Kafka, ready: readonly Ready[], o: RedriveOptions, summary: RedriveSummary, stop: StopRequest): Promise<void> {
  const requestsTopic = rt.config.redemptionTopic;
  const partitions = await partitionCount(kafka, requestsTopic);
  const codec = await rt.registry().codecFor<RedemptionRequested>('requested', requestsTopic);
  const producer = await RedemptionProducer.connect(kafka, codec, requestsTopic, { clientId: 'redeem-redrive' });
  const bar = new ProgressBar('redrive', ready.length, o.progress);
  try {
    for (let i = 0; i < ready.length; i += 500) {
      if (stop.requested) throw redriveInterrupted(i, ready.length);
      const batch = ready.slice(i, i + 500);
      const acks = await producer.sendAll(batch.map((b) => b.request));
      // The copies of one call are appended in call order to each partition from its base offset.
      const next = new Map(acks.map((a) => [a.partition, Number(a.baseOffset)]));
      const now = new Date();
      const rows = batch.map(({ letter, request }) => {
        const target = murmur2Partition(request.coupon_code, partitions);
        const offset = next.get(target)!;
        next.set(target, offset + 1);
        return {
          source_topic: requestsTopic,
          source_partition: letter.sourcePartition,
          source_offset: letter.sourceOffset,
          code: letter.code.slice(0, 32),
          coupon_code: request.coupon_code,
          request_id: request.request_id,
          target_partition: target,
          target_offset: offset,
          redriven_at: now,
        };
      });
      await rt.knex()('redriven_dead_letters').insert(rows).onConflict(['source_topic', 'source_partition', 'source_offset']).ignore();
      for (const { letter } of batch) count(summary.redriven, letter.code);
      bar.update(Math.min(i + 500, ready.length));
    }
    bar.finish(ready.length);
  } finally {
    await producer.disconnect();
  }
}

/** Where a redrive stopped on Ctrl-C: what was sent is recorded, so the next run sends only the rest. */
function redriveInterrupted(sent: number, total: number): Interrupted {
  return new Interrupted(
    `interrupted: ${sent} of the ${total} dead letters to redrive were sent again (acknowledged and recorded); run it again to send the rest (what was sent is never sent twice)`,
  );
}

/** A redrive already done: where the dead letter came from, and where its copy went. */
export interface RedrivenRecord {
  sourcePartition: number;
  sourceOffset: number;
  targetPartition: number;
  targetOffset: number;
}

/**
 * Which dead letters a redrive sends (pure; counted into `summary`): those the filters select, one per
 * origin, except an origin already redriven and a dead letter of a copy a redrive sent (which would go
 * round in circles). A dead letter without a usable origin is refused.
 */
export function selectDeadLetters(
  letters: readonly KafkaMessage[],
  requestsTopic: string,
  redriven: readonly RedrivenRecord[],
  filters: { code?: string; since?: Date },
  summary: Pick<RedriveSummary, 'selected' | 'repeats' | 'alreadyRedriven' | 'redrivenCopies' | 'refused'>,
): DeadLetterRecord[] {
  const sentOrigins = new Set(redriven.map((r) => `${r.sourcePartition}/${r.sourceOffset}`));
  const sentCopies = new Set(redriven.map((r) => `${r.targetPartition}/${r.targetOffset}`));
  const seen = new Set<string>();
  const candidates: DeadLetterRecord[] = [];
  for (const message of letters) {
    const code = header(message.headers, 'dlq.code') ?? '';
    if (filters.code !== undefined && code !== filters.code) continue;
    if (filters.since !== undefined && Number(message.timestamp) < filters.since.getTime()) continue;
    summary.selected += 1;
    const sourceTopic = header(message.headers, 'dlq.topic');
    const sourcePartition = Number(header(message.headers, 'dlq.partition') ?? NaN);
    const sourceOffset = Number(header(message.headers, 'dlq.offset') ?? NaN);
    const origin = `${sourcePartition}/${sourceOffset}`;
    if (sourceTopic !== requestsTopic || !Number.isSafeInteger(sourcePartition) || !Number.isSafeInteger(sourceOffset)) {
      count(summary.refused, code);
      continue;
    }
    if (seen.has(origin)) {
      summary.repeats += 1;
      continue;
    }
    seen.add(origin);
    if (sentOrigins.has(origin)) {
      summary.alreadyRedriven += 1;
      continue;
    }
    if (sentCopies.has(origin)) {
      summary.redrivenCopies += 1;
      continue;
    }
    candidates.push({
      code,
      sourceTopic,
      sourcePartition,
      sourceOffset,
      truncated: header(message.headers, 'dlq.truncated') === 'true',
      key: message.key,
      value: message.value,
    });
  }
  return candidates;
}

function count(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

const total = (map: Map<string, number>) => [...map.values()].reduce((a, b) => a + b, 0);
const byCode = (map: Map<string, number>) => (map.size === 0 ? '' : ` (${[...map].map(([code, n]) => `${code} ${n}`).join(', ')})`);

export function formatRedriveSummary(s: RedriveSummary): string {
  return [
    `${s.dryRun ? 'dry run, nothing sent: ' : ''}dead letters ${s.deadLetters}, selected ${s.selected}`,
    `${s.dryRun ? 'would redrive' : 'redriven'} ${total(s.redriven)}${byCode(s.redriven)}`,
    `already redriven ${s.alreadyRedriven}, repeated dead letters ${s.repeats}, redriven copies dead-lettered again ${s.redrivenCopies}`,
    `refused (still not a valid request) ${total(s.refused)}${byCode(s.refused)}${s.missingOriginals > 0 ? `, originals missing ${s.missingOriginals}` : ''}`,
  ].join('\n');
}

async function partitionCount(kafka: Kafka, topic: string): Promise<number> {
  return withAdmin(kafka, async (admin) => (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions.length);
}

/** Every message of a topic up to the end it had when the read began, per partition in offset order. */
async function readWholeTopic(
  kafka: Kafka,
  topic: string,
  progress: boolean,
  abandon: Promise<unknown>,
): Promise<{ partition: number; message: KafkaMessage }[]> {
  const exists = await withAdmin(kafka, async (admin) => (await admin.listTopics()).includes(topic));
  const wanted = exists ? await currentRanges(kafka, topic) : [];
  const bar = new ProgressBar(
    'dlq: reading',
    wanted.reduce((n, w) => n + w.to - w.from, 0),
    progress,
  );
  const out: { partition: number; message: KafkaMessage }[] = [];
  await readRanges({
    kafka,
    topic,
    ranges: wanted,
    abandon,
    onChunk: ({ partition, messages }) => {
      for (const message of messages) out.push({ partition, message });
      bar.update(out.length);
    },
  });
  bar.finish(out.length);
  return out;
}

/** The messages at the given offsets (absent: no longer in the topic). */
async function readOffsets(kafka: Kafka, topic: string, wanted: readonly { partition: number; offset: number }[]): Promise<Map<string, KafkaMessage>> {
  const byPartition = new Map<number, Set<number>>();
  for (const w of wanted) byPartition.set(w.partition, (byPartition.get(w.partition) ?? new Set()).add(w.offset));
  const ranges = [...byPartition].map(([partition, set]) => ({ partition, from: Math.min(...set), to: Math.max(...set) + 1 }));
  const found = new Map<string, KafkaMessage>();
  await readRanges({
    kafka,
    topic,
    ranges,
    onChunk: ({ partition, messages }) => {
      for (const message of messages) if (byPartition.get(partition)?.has(Number(message.offset))) found.set(`${partition}/${message.offset}`, message);
    },
  });
  return found;
}
