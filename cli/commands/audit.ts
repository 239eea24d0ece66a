/**
 * `redeem audit tail` and `redeem audit stats`: the audit stream read under a throwaway group, filtered,
 * each source record once.
 */
import { randomBytes } from 'node:crypto';

import type { Admin } from 'kafkajs';

import { firstOfEachSource } from '../../analytics/first-of-each-source.js';
import { type GroupStart, setGroupOffsets, topicOffsets, withAdmin } from '../../lib/kafka.js';
import type { Runtime } from '../../lib/runtime.js';
import { murmur2Partition } from '../../schemas/partitioning.js';
import type { Decision, RedemptionDecided, RejectReason } from '../../schemas/types.js';
import { removeThrowawayGroup } from '../throwaway-group.js';

export interface AuditFilter {
  coupon?: string;
  /** Only the records of this request id (its decision, and the DUPLICATE records of its retries). */
  requestId?: string;
  decision?: Decision;
  reason?: RejectReason;
  /** Only records of this user (version-1 records have no user: they never match). */
  user?: string;
  /** Only records of this campaign (version-1 records have no campaign: they never match). */
  campaign?: string;
  /** Only records the broker received at or after this time. */
  since?: Date;
  /** Only records the broker received at or before this time. */
  until?: Date;
}

export function matches(record: RedemptionDecided, f: AuditFilter): boolean {
  return (
    (f.coupon === undefined || record.coupon_code === f.coupon) &&
    (f.requestId === undefined || record.request_id === f.requestId) &&
    (f.decision === undefined || record.decision === f.decision) &&
    (f.reason === undefined || record.reason === f.reason) &&
    (f.user === undefined || record.user_id === f.user) &&
    (f.campaign === undefined || record.campaign_id === f.campaign)
  );
}

/** The JSON line printed for an audit record: times as ISO-8601. */
export function auditJson(record: RedemptionDecided): string {
  return JSON.stringify({ ...record, decided_at: record.decided_at.toISOString() });
}

interface ReadOptions {
  fromBeginning: boolean;
  since?: Date;
  /** Skip records the broker received after this time. */
  untilTime?: Date;
  /** 'end': stop at the end offsets the topic had when the read began; else follow until stopped. */
  until: 'end' | { exitWhenIdle?: number };
  /** Only this coupon's records: only its partition is read, and other keys are skipped undecoded. */
  coupon?: string;
  onRecord(record: RedemptionDecided, key: string | undefined): void;
}

/**
 * The partitions of the audit topic a read needs: a coupon's records are all in the partition its code
 * hashes to (the publisher keys them by coupon code, KafkaJS's default partitioner places them by
 * murmur2), so a read for one coupon needs that one; any other read needs them all.
 */
export function auditPartitions(coupon: string | undefined, partitionCount: number): number[] {
  if (coupon !== undefined) return [murmur2Partition(coupon, partitionCount)];
  return Array.from({ length: partitionCount }, (_, p) => p);
}

/**
 * Reads the audit topic under a throwaway consumer group of its own that commits nothing, so it never
 * disturbs the pipeline or an analyst's group. Only the partitions the read needs (auditPartitions) are
 * fetched: the others start at their end and are paused once the group is joined.
 */
async function readAudit(rt: Runtime, o: ReadOptions): Promise<void> {
  const topic = rt.config.auditTopic;
  const decoder = rt.registry().decoderFor<RedemptionDecided>('decided');
  const groupId = `redeem-audit-${randomBytes(4).toString('hex')}`;
  const { ends, wanted, starts } = await withAdmin(rt.kafka('redeem-audit'), (admin) => startOffsets(admin, topic, o));
  await setGroupOffsets(rt.kafka('redeem-audit'), { groupId, topic, partitions: starts });
  const others = [...ends.keys()].filter((p) => !wanted.has(p));
  const pending = new Set([...ends].filter(([p, end]) => end > 0 && wanted.has(p)).map(([p]) => p));
  const consumer = rt.kafka('redeem-audit').consumer({ groupId, maxWaitTimeInMs: 200 });
  let lastActivity = Date.now();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: o.fromBeginning || o.since !== undefined });
    const stop = new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
      const idle = o.until === 'end' ? undefined : o.until.exitWhenIdle;
      const timer = setInterval(() => {
        const atEnd = o.until === 'end' && pending.size === 0;
        const idleLongEnough = idle !== undefined && Date.now() - lastActivity >= idle * 1000;
        if (atEnd || idleLongEnough) {
          clearInterval(timer);
          resolve();
        }
      }, 100);
    });
    consumer.on(consumer.events.GROUP_JOIN, () => {
      lastActivity = Date.now();
      if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
    });
    consumer.on(consumer.events.FETCH, () => {
      // A bounded read whose partitions are all behind `since` ends when the fetch comes back empty.
      if (o.until === 'end' && Date.now() - lastActivity > 2000) pending.clear();
    });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (!wanted.has(batch.partition)) return;
        for (const message of batch.messages) {
          if (o.until === 'end' && Number(message.offset) >= ends.get(batch.partition)!) {
            pending.delete(batch.partition);
            break;
          }
          const late = o.untilTime !== undefined && Number(message.timestamp) > o.untilTime.getTime();
          const key = message.key?.toString();
          const other = o.coupon !== undefined && key !== undefined && key !== o.coupon;
          if (message.value !== null && !late && !other) o.onRecord(await decoder.decode(message.value), key);
          if (Number(message.offset) + 1 >= ends.get(batch.partition)!) pending.delete(batch.partition);
        }
        lastActivity = Date.now();
      },
    });
    await stop;
  } finally {
    await consumer.disconnect();
    await removeThrowawayGroup(rt, groupId);
  }
}

/**
 * The end offsets the topic has now, the partitions the read needs, and the group's start offsets: from
 * `since` (by timestamp) in those, and at the end in the others, so that nothing of theirs is fetched.
 */
async function startOffsets(admin: Admin, topic: string, o: ReadOptions): Promise<{ ends: Map<number, number>; wanted: Set<number>; starts: GroupStart[] }> {
  const offsets = await topicOffsets(admin, topic);
  const ends = new Map(offsets.map((x) => [x.partition, Number(x.high)]));
  const wanted = new Set(auditPartitions(o.coupon, offsets.length));
  const starts = new Map([...ends].filter(([p]) => !wanted.has(p)).map(([p, end]) => [p, String(end)]));
  if (o.since) {
    for (const x of await admin.fetchTopicOffsetsByTimestamp(topic, o.since.getTime())) {
      if (wanted.has(x.partition)) starts.set(x.partition, Number(x.offset) < 0 ? String(ends.get(x.partition)) : x.offset);
    }
  }
  return { ends, wanted, starts: [...starts].map(([partition, offset]) => ({ partition, offset })) };
}

export interface TailOptions extends AuditFilter {
  fromBeginning: boolean;
  exitWhenIdle?: number;
  write(line: string): void;
}

/**
 * Prints the audit stream as JSON lines, filtered, each source record once, until stopped (or idle that
 * long). With `until`, it stops at the end the topic had when it began.
 */
export async function tailAudit(rt: Runtime, o: TailOptions): Promise<number> {
  let printed = 0;
  const first = firstOfEachSource();
  await readAudit(rt, {
    // A bounded tail with no start reads from the oldest record kept.
    fromBeginning: o.fromBeginning || o.until !== undefined,
    since: o.since,
    untilTime: o.until,
    until: o.until ? 'end' : { exitWhenIdle: o.exitWhenIdle },
    coupon: o.coupon,
    onRecord: (record) => {
      if (!first(record) || !matches(record, o)) return;
      o.write(auditJson(record));
      printed += 1;
    },
  });
  return printed;
}

export interface AuditStats {
  records: number;
  byDecision: Map<string, number>;
  byReason: Map<string, number>;
  topCoupons: [string, number][];
}

export interface StatsOptions extends Pick<AuditFilter, 'user' | 'campaign' | 'until'> {
  since: Date;
  top?: number;
}

/**
 * Counts by decision and reason, and the coupons with the most applied redemptions, between two times:
 * each source record once (a record re-emitted by a redelivery or a replay is not counted again).
 */
export async function auditStats(rt: Runtime, o: StatsOptions): Promise<AuditStats> {
  const { since, top = 10 } = o;
  const first = firstOfEachSource();
  const byDecision = new Map<string, number>();
  const byReason = new Map<string, number>();
  const redeemed = new Map<string, number>();
  let records = 0;
  const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  await readAudit(rt, {
    fromBeginning: true,
    since,
    untilTime: o.until,
    until: 'end',
    onRecord: (r) => {
      if (!first(r) || !matches(r, o)) return;
      records += 1;
      bump(byDecision, r.decision);
      if (r.reason) bump(byReason, r.reason);
      if (r.decision === 'APPLIED' && r.op === 'REDEEM') bump(redeemed, r.coupon_code);
    },
  });
  const topCoupons = [...redeemed].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, top);
  return { records, byDecision, byReason, topCoupons };
}

export function formatAuditStats(s: AuditStats, since: Date, until?: Date): string {
  const range = `since ${since.toISOString()}${until ? ` until ${until.toISOString()}` : ''}`;
  const lines = [`audit records ${range} (each source record once): ${s.records}`, 'by decision'];
  for (const [k, v] of [...s.byDecision].sort()) lines.push(`  ${k.padEnd(14)} ${v}`);
  lines.push('rejected by reason');
  for (const [k, v] of [...s.byReason].sort()) lines.push(`  ${k.padEnd(14)} ${v}`);
  lines.push('top coupons by redemptions applied');
  for (const [k, v] of s.topCoupons) lines.push(`  ${k.padEnd(20)} ${v}`);
  return lines.join('\n');
}
