import type { Kafka } from 'kafkajs';
import type { Knex } from 'knex';

import { ProgressBar } from '../lib/progress.js';
import type { Runtime } from '../lib/runtime.js';
import type { Decoder } from '../schemas/registry.js';
import type { RedemptionDecided, RedemptionRequested } from '../schemas/types.js';
import { AuditCheck, readAuditTopic } from './audit-check.js';
import { type ReferenceCoupon, ReferenceLedger } from './reference-ledger.js';
import { readRequestsTopic } from './requests-topic.js';

export interface VerifyReport {
  equal: boolean;
  messages: number;
  decided: number;
  unprocessable: number;
  coupons: number;
  redemptions: number;
  differences: string[];
  /** Audit records read (null: the audit stream was not checked) and how many repeated an earlier one. */
  auditRecords: number | null;
  auditRepeats: number;
}

/** A redemption row as verify reads it from MySQL. */
export interface MysqlRedemption {
  coupon_code: string;
  request_id: string;
  user_id: string;
  order_id: string;
  amount_cents: number | string;
  status: string;
}

/**
 * Recomputes the expected state from the whole requests topic with the reference ledger and compares
 * it with MySQL: every coupon's redeemed_count, every redemption row and its status. The coupons' terms
 * are taken from MySQL, so a coupon whose terms changed after requests were decided shows up as a
 * difference too. With `audit`, the audit stream too (audit-check.ts): a record for every decided
 * message, with the reference's decision and reason, repeats that agree, no record for anything else.
 */
export interface VerifyOptions {
  kafka: Kafka;
  knex: Knex;
  decoder: Decoder<RedemptionRequested>;
  /** The requests topic. */
  topic: string;
  /** The consumer's MAX_MESSAGE_BYTES. */
  maxMessageBytes: number;
  /** Show a progress bar. @defaultValue false */
  progress?: boolean;
  /** Verify only the topic up to these offsets (exclusive): a run that processed only that much. @defaultValue the ends */
  stops?: ReadonlyMap<number, number>;
  /** Check the audit stream too: its topic and a decoder of its records. @defaultValue not checked */
  audit?: { topic: string; decoder: Decoder<RedemptionDecided> };
  /** Once it settles, verify stops reading and throws VerifyStopped, comparing nothing (Ctrl-C). @defaultValue never */
  abandon?: Promise<unknown>;
}

/** What verify reads for a pipeline: its requests and audit topics, its database, through `rt`'s clients. */
export function pipelineVerifyOptions(rt: Runtime): VerifyOptions {
  return {
    kafka: rt.kafka(),
    knex: rt.knex(),
    decoder: rt.registry().decoderFor<RedemptionRequested>('requested'),
    topic: rt.config.redemptionTopic,
    maxMessageBytes: rt.config.maxMessageBytes,
    audit: { topic: rt.config.auditTopic, decoder: rt.registry().decoderFor<RedemptionDecided>('decided') },
  };
}

/** Verify was stopped before it had read everything: it compared nothing, and running it again is safe (it only reads). */
export class VerifyStopped extends Error {
  constructor(
    readonly read: number,
    readonly total: number,
    topic: string,
    auditTopic?: string,
  ) {
    super(
      read < total
        ? `verify read ${read} of the ${total} messages of ${topic} and compared nothing`
        : `verify read the ${total} messages of ${topic} but not all of ${auditTopic}, and compared nothing`,
    );
    this.name = 'VerifyStopped';
  }
}

export async function verify(deps: VerifyOptions): Promise<VerifyReport> {
  const { topic, maxMessageBytes, progress = false, stops, abandon } = deps;
  let abandoned = false;
  abandon?.then(
    () => (abandoned = true),
    () => (abandoned = true),
  );
  const coupons = (await deps.knex('coupons').select('code', 'quota', 'per_user_limit', 'valid_from', 'valid_until')) as ReferenceCoupon[];
  const reference = new ReferenceLedger(coupons, { keepDecisions: false });
  const bar = new ProgressBar('verify: reading', null, progress);
  let decided = 0;
  const auditCheck = deps.audit ? new AuditCheck(stops) : null;
  const read = await readRequestsTopic({
    kafka: deps.kafka,
    topic,
    decoder: deps.decoder,
    maxMessageBytes,
    onRequest: (request, partition, offset, timestamp) => {
      const decision = reference.apply(request);
      auditCheck?.expect(partition, offset, decision, timestamp);
      decided += 1;
    },
    onProgress: (n) => bar.update(n),
    stops,
    abandon,
  });
  // Stopped once everything was read: nothing is missing, so it goes on.
  if (abandoned && read.messages < read.total) throw new VerifyStopped(read.messages, read.total, topic);
  bar.finish(read.messages);

  const actualCounts = new Map(
    ((await deps.knex('coupons').select('code', 'redeemed_count')) as { code: string; redeemed_count: number }[]).map((c) => [c.code, c.redeemed_count]),
  );
  const rows = (await deps.knex('redemptions').select('coupon_code', 'request_id', 'user_id', 'order_id', 'amount_cents', 'status')) as MysqlRedemption[];
  const differences = stateDifferences(reference, actualCounts, rows);
  if (auditCheck && deps.audit) {
    const retainedSince = await readAuditTopic(deps.kafka, deps.audit.topic, deps.audit.decoder, auditCheck, abandon);
    if (abandoned) throw new VerifyStopped(read.messages, read.total, topic, deps.audit.topic);
    differences.push(...auditCheck.differences(retainedSince));
  }
  return {
    equal: differences.length === 0,
    messages: read.messages,
    decided,
    unprocessable: read.unprocessable,
    coupons: reference.counts.size,
    redemptions: reference.redemptions.size,
    differences,
    auditRecords: auditCheck ? auditCheck.records : null,
    auditRepeats: auditCheck ? auditCheck.repeats : 0,
  };
}

/**
 * What MySQL holds against what the reference computed: every coupon's redeemed_count, every redemption
 * row (status, user, order, amount), rows missing and rows no request applies. Pure, for the unit tests.
 */
export function stateDifferences(reference: ReferenceLedger, actualCounts: ReadonlyMap<string, number>, rows: readonly MysqlRedemption[]): string[] {
  const differences: string[] = [];
  for (const [code, expected] of reference.counts) {
    const actual = actualCounts.get(code);
    // mutant: verify-count-unchecked
    if (actual !== expected) differences.push(`coupon ${code}: redeemed_count is ${actual}, expected ${expected}`);
  }
  const seen = new Set<string>();
  for (const row of rows) {
    const key = JSON.stringify([row.coupon_code, row.request_id]);
    seen.add(key);
    const expected = reference.redemptions.get(key);
    if (!expected) {
      differences.push(`redemption ${key}: in MySQL (${row.status}) but no request applies it`);
      continue;
    }
    const fields: [string, unknown, unknown][] = [
      ['status', row.status, expected.status],
      ['user_id', row.user_id, expected.user_id],
      ['order_id', row.order_id, expected.order_id],
      ['amount_cents', Number(row.amount_cents), expected.amount_cents],
    ];
    for (const [field, actual, want] of fields)
      if (actual !== want) differences.push(`redemption ${key}: ${field} is ${String(actual)}, expected ${String(want)}`);
  }
  for (const [key, expected] of reference.redemptions) {
    if (!seen.has(key)) differences.push(`redemption ${key}: missing from MySQL (expected ${expected.status})`);
  }
  return differences;
}

export function formatVerifyReport(r: VerifyReport, limit = 50): string {
  const audit = r.auditRecords === null ? '' : `; ${r.auditRecords} audit records (${r.auditRepeats} repeated)`;
  const head = `verify: ${r.messages} messages (${r.decided} requests, ${r.unprocessable} dead-letterable), ${r.coupons} coupons, ${r.redemptions} redemptions expected${audit}`;
  if (r.equal)
    return `${head}\nEQUAL: MySQL holds exactly the state the rules give${r.auditRecords === null ? '' : ', and the audit stream records every decision'}`;
  const more = r.differences.length > limit ? `\n... and ${r.differences.length - limit} more` : '';
  return `${head}\nDIFFERENT: ${r.differences.length} difference(s)\n${r.differences.slice(0, limit).join('\n')}${more}`;
}
