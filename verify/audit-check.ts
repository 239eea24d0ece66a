import type { Kafka } from 'kafkajs';

import { currentRanges, readRanges, topicOffsets, withAdmin } from '../lib/kafka.js';
import type { Decoder } from '../schemas/registry.js';
import type { RedemptionDecided } from '../schemas/types.js';
import type { ReferenceDecision } from './reference-ledger.js';

/**
 * The audit stream's promise, checked against the reference: every message the pipeline decides has
 * a RedemptionDecided record naming it (source partition and offset) with the decision and reason the
 * reference rules give; a message may have repeated records (re-emitted after a crash or a rebalance),
 * which must agree (for APPLIED and REJECTED in every field, as they come from the stored decision; a
 * DUPLICATE's time and consumer are those of each answer); no record names a message that is not a
 * request to decide. Pure: the caller feeds the expectations and the records.
 */
export class AuditCheck {
  private readonly expected = new Map<string, ReferenceDecision & { timestamp: number }>();
  private readonly seen = new Map<string, { record: RedemptionDecided; count: number }>();
  private readonly problems: string[] = [];
  records = 0;
  repeats = 0;

  /** `stops`: records of messages at or past these offsets belong to work beyond the verified range. */
  constructor(private readonly stops?: ReadonlyMap<number, number>) {}

  /** The reference's decision for the message at (partition, offset); `timestamp` is its CreateTime. */
  expect(partition: number, offset: number, decision: ReferenceDecision, timestamp: number): void {
    this.expected.set(`${partition}/${offset}`, { ...decision, timestamp });
  }

  record(r: RedemptionDecided): void {
    const source = `${r.source_partition}/${r.source_offset}`;
    const stop = this.stops?.get(r.source_partition);
    if (stop !== undefined && r.source_offset >= stop) return;
    this.records += 1;
    const expected = this.expected.get(source);
    if (!expected) {
      this.problems.push(`audit: message ${source} is no request to decide, yet has a record (${describe(r)}, ${pair(r)})`);
      return;
    }
    const earlier = this.seen.get(source);
    if (earlier) {
      earlier.count += 1;
      this.repeats += 1;
      if (!sameRecord(earlier.record, r)) {
        this.problems.push(
          `audit: message ${source} (${pair(r)}) has records that differ, decided more than once: ${decidedBy(earlier.record)} and ${decidedBy(r)}`,
        );
      }
      return;
    }
    this.seen.set(source, { record: r, count: 1 });
    if (r.request_id !== expected.request_id || r.coupon_code !== expected.coupon_code || r.decision !== expected.decision || r.reason !== expected.reason) {
      this.problems.push(`audit: message ${source}: recorded ${describe(r)}, expected ${describe(expected)}`);
    }
  }

  /**
   * Every difference found. `retainedSince`: the audit topic's retention has removed records (its first
   * offset is past 0 on some partition), and no record older than this time is left; a message produced
   * before it may have lost its record to retention and is not reported.
   */
  differences(retainedSince: number | null = null): string[] {
    const missing: string[] = [];
    for (const [source, e] of this.expected) {
      // mutant: verify-audit-missing-unreported
      if (this.seen.has(source)) continue;
      if (retainedSince !== null && e.timestamp <= retainedSince) continue;
      missing.push(`audit: message ${source} (${pair(e)}) has no audit record (expected ${describe(e)})`);
    }
    return [...this.problems, ...missing];
  }
}

function pair(r: { coupon_code: string; request_id: string }): string {
  return `coupon ${JSON.stringify(r.coupon_code)}, request ${JSON.stringify(r.request_id)}`;
}

function describe(r: { decision: string; reason: string | null }): string {
  return r.reason ? `${r.decision} ${r.reason}` : r.decision;
}

function decidedBy(r: RedemptionDecided): string {
  return `${describe(r)} at ${r.decided_at.toISOString()} by ${r.consumer_id}`;
}

/** A repeat of a stored decision is identical; a DUPLICATE answer repeats its decision, not its time. */
function sameRecord(a: RedemptionDecided, b: RedemptionDecided): boolean {
  const basic = a.request_id === b.request_id && a.coupon_code === b.coupon_code && a.op === b.op && a.decision === b.decision && a.reason === b.reason;
  if (!basic || a.decision === 'DUPLICATE') return basic;
  return a.remaining_quota === b.remaining_quota && a.decided_at.getTime() === b.decided_at.getTime() && a.consumer_id === b.consumer_id;
}

/**
 * Reads the whole audit topic into `check`. Returns the time before which retention may have removed
 * records (null when every partition still starts at offset 0). A topic that does not exist holds no
 * records.
 */
export async function readAuditTopic(
  kafka: Kafka,
  topic: string,
  decoder: Decoder<RedemptionDecided>,
  check: AuditCheck,
  abandon?: Promise<unknown>,
): Promise<number | null> {
  let offsets: { partition: number; low: string; high: string }[];
  try {
    offsets = await withAdmin(kafka, (admin) => topicOffsets(admin, topic));
  } catch (error) {
    if ((error as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION') return null;
    throw error;
  }
  const trimmed = new Set(offsets.filter((o) => Number(o.low) > 0).map((o) => o.partition));
  let retainedSince: number | null = null;
  await readRanges({
    kafka,
    topic,
    ranges: await currentRanges(kafka, topic),
    abandon,
    onChunk: async ({ partition, messages }) => {
      for (const m of messages) {
        if (trimmed.has(partition) && Number(m.offset) === Number(offsets.find((o) => o.partition === partition)!.low)) {
          retainedSince = Math.max(retainedSince ?? 0, Number(m.timestamp));
        }
        if (m.value !== null) check.record(await decoder.decode(m.value));
      }
    },
  });
  // A partition trimmed to its end (nothing left) tells no time: then no missing record can be judged.
  if (offsets.some((o) => Number(o.low) > 0 && o.low === o.high)) retainedSince = Number.MAX_SAFE_INTEGER;
  return retainedSince;
}
