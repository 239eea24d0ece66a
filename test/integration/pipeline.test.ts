import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { setGroupOffsets, topicOffsets } from '../../lib/kafka.js';
import { dropDatabase } from '../../lib/mysql.js';
import type { RedemptionDecided } from '../../schemas/types.js';
import { type ReferenceLedger as Ledger, ReferenceLedger } from '../../verify/reference-ledger.js';
import { couponsCsv, mixedCoupons, mixedRequests, writeJsonLines, writeTemp } from './fixtures.js';
import { IsolatedPipeline } from './helpers.js';

const SIM_COUPONS = 30;
const SIM_REQUESTS = 4000;

interface DbState {
  counts: Map<string, number>;
  redemptions: Map<string, { user_id: string; order_id: string; amount_cents: number; status: string }>;
}

async function dbState(p: IsolatedPipeline): Promise<DbState> {
  const knex = p.rt.knex();
  const coupons = (await knex('coupons').select('code', 'redeemed_count')) as { code: string; redeemed_count: number }[];
  const rows = (await knex('redemptions').select('coupon_code', 'request_id', 'user_id', 'order_id', 'amount_cents', 'status')) as {
    coupon_code: string;
    request_id: string;
    user_id: string;
    order_id: string;
    amount_cents: number | string;
    status: string;
  }[];
  return {
    counts: new Map(coupons.map((c) => [c.code, c.redeemed_count])),
    redemptions: new Map(
      rows.map((r) => [
        JSON.stringify([r.coupon_code, r.request_id]),
        { user_id: r.user_id, order_id: r.order_id, amount_cents: Number(r.amount_cents), status: r.status },
      ]),
    ),
  };
}

function expectedState(ref: Ledger): DbState {
  return {
    counts: new Map(ref.counts),
    redemptions: new Map(
      [...ref.redemptions].map(([k, r]) => [k, { user_id: r.user_id, order_id: r.order_id, amount_cents: r.amount_cents, status: r.status }]),
    ),
  };
}

/** The decisions of each coupon, in the order its messages sat in the partition. */
function decisionsByCoupon(records: readonly { coupon_code: string; request_id: string; decision: string; reason: string | null }[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of records) {
    const list = out.get(r.coupon_code) ?? [];
    list.push(`${r.request_id}:${r.decision}${r.reason ? `:${r.reason}` : ''}`);
    out.set(r.coupon_code, list);
  }
  return out;
}

function byPartitionOrder(records: RedemptionDecided[]): RedemptionDecided[] {
  return [...records].sort((a, b) => a.source_partition - b.source_partition || a.source_offset - b.source_offset);
}

describe('the pipeline end to end', () => {
  const p = new IsolatedPipeline();
  const coupons = mixedCoupons(SIM_COUPONS);
  const requests = mixedRequests(SIM_COUPONS, SIM_REQUESTS);
  const reference = new ReferenceLedger(coupons);
  for (const r of requests) reference.apply(r);

  beforeAll(async () => {
    const migrated = await p.cli(['migrate']);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stdout).toContain('migrated: 20261124000001_initial_schema');
    await p.setUp();
  });
  afterAll(async () => {
    await p.cleanup();
  });

  it('imports the coupons, produces the file, consumes it: MySQL and the audit stream equal the reference', async () => {
    const imported = await p.cli(['coupons', 'import', writeTemp(couponsCsv(coupons), 'coupons.csv')]);
    expect(imported.stderr).toBe('');
    expect(imported.stdout).toContain(`imported ${coupons.length} coupons`);

    const produced = await p.cli(['produce', '--file', writeJsonLines(requests, 'requests'), '--no-progress']);
    expect(produced.code, produced.stderr).toBe(0);
    expect(produced.stdout).toContain(`produced ${requests.length} requests`);

    const consumed = await p.cli(['consume', '--exit-when-idle', '1']);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stdout).toContain(`decided      ${requests.length}`);

    expect(await dbState(p)).toEqual(expectedState(reference));

    const audit = byPartitionOrder(await p.auditRecords(requests.length));
    expect(audit).toHaveLength(requests.length);
    expect(decisionsByCoupon(audit)).toEqual(decisionsByCoupon(reference.decisions));
    // Keyed by coupon, the audit record lands on the same partition number as its request.
    const auditMessages = await p.readTopic(p.config.auditTopic, requests.length);
    expect(auditMessages).toHaveLength(requests.length);
    const decoder = p.rt.registry().decoderFor<RedemptionDecided>('decided');
    const misplaced: string[] = [];
    for (const m of auditMessages) {
      const r = await decoder.decode(m.value!);
      if (m.partition !== r.source_partition || m.key?.toString() !== r.coupon_code)
        misplaced.push(`${r.request_id}: key ${m.key?.toString()} on partition ${m.partition}, request on ${r.source_partition}`);
    }
    expect(misplaced).toEqual([]);
  });

  it('keeps per-coupon order: a refund that came first frees the quota for the redemption after it', async () => {
    const audit = await p.auditRecords(requests.length);
    const order = byPartitionOrder(audit.filter((r) => r.coupon_code === 'ORDER')).map((r) => `${r.request_id}:${r.decision}${r.reason ? `:${r.reason}` : ''}`);
    expect(order).toEqual(['o1:APPLIED', 'o2:REJECTED:EXHAUSTED', 'o3:APPLIED', 'o4:APPLIED']);
  });

  it('covers every rule in this mix', () => {
    const seen = new Set(reference.decisions.map((d) => d.reason ?? d.decision));
    for (const outcome of ['APPLIED', 'DUPLICATE', 'NOT_FOUND', 'NOT_YET_VALID', 'EXPIRED', 'EXHAUSTED', 'USER_LIMIT', 'NOT_REDEEMED'])
      expect(seen).toContain(outcome);
  });

  it('treats the same file sent again (upstream retries of every request) as duplicates, changing nothing', async () => {
    const before = await dbState(p);
    const ends = await p.endOffsets(p.config.redemptionTopic);
    const again = await p.cli(['produce', '--file', writeJsonLines(requests, 'requests-again'), '--no-progress']);
    expect(again.code, again.stderr).toBe(0);
    // Redis forgets everything first: MySQL alone must recognise the retries.
    const consumed = await p.cli(['consume', '--exit-when-idle', '1'], { REDIS_KEY_PREFIX: `${p.config.redisKeyPrefix}-forgotten` });
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(await dbState(p)).toEqual(before);
    const audit = await p.auditRecords(requests.length * 2);
    const second = audit.filter((r) => r.source_offset >= ends.get(r.source_partition)!);
    expect(audit).toHaveLength(requests.length * 2);
    expect(second).toHaveLength(requests.length);
    expect(second.every((r) => r.decision === 'DUPLICATE')).toBe(true);
  });

  it('replaying the whole topic into a fresh database gives the same state', async () => {
    const fresh = {
      MYSQL_URL: p.config.mysqlUrl.replace(/redeem_test_(\w+)$/, 'redeem_test_$1_rebuild'),
      CONSUMER_GROUP: `${p.config.consumerGroup}-rebuild`,
      REDIS_KEY_PREFIX: `${p.config.redisKeyPrefix}-rebuild`,
      AUDIT_TOPIC: `${p.config.auditTopic}.rebuild`,
    };
    expect((await p.cli(['migrate'], fresh)).code).toBe(0);
    expect((await p.cli(['coupons', 'import', writeTemp(couponsCsv(coupons), 'coupons-rebuild.csv')], fresh)).code).toBe(0);
    const rebuilt = await p.cli(['consume', '--exit-when-idle', '1'], fresh);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    const other = new IsolatedPipeline({ ...p.env, ...fresh });
    try {
      expect(await dbState(other)).toEqual(await dbState(p));
    } finally {
      await other.rt.close();
      await dropDatabase(other.config.mysqlUrl);
    }
  });

  it('a redelivery of already-decided messages re-emits the identical decisions and changes nothing', async () => {
    const before = await dbState(p);
    // The group back to the start of the topic (admin.resetOffsets does the same, 5 s slower: lib/kafka.ts).
    const starts = await p.withAdmin((admin) => topicOffsets(admin, p.config.redemptionTopic));
    await setGroupOffsets(p.rt.kafka(), {
      groupId: p.config.consumerGroup,
      topic: p.config.redemptionTopic,
      partitions: starts.map((o) => ({ partition: o.partition, offset: o.low })),
    });
    const replay = await p.cli(['consume', '--exit-when-idle', '1']);
    expect(replay.code, replay.stderr).toBe(0);
    expect(await dbState(p)).toEqual(before);
    const audit = await p.auditRecords(requests.length * 4);
    const bySource = new Map<string, string[]>();
    for (const r of audit) {
      const key = `${r.source_partition}/${r.source_offset}`;
      bySource.set(key, [...(bySource.get(key) ?? []), `${r.decision}:${r.reason}:${r.remaining_quota}`]);
    }
    // Every message now has two records, and they are identical.
    expect(bySource.size).toBe(requests.length * 2);
    const differing = [...bySource].filter(([, decisions]) => decisions.length !== 2 || decisions[1] !== decisions[0]);
    expect(differing).toEqual([]);
  });
});
