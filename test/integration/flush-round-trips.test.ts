import { randomBytes } from 'node:crypto';

import type { Knex } from 'knex';
import { afterAll, describe, expect, it } from 'vitest';

import { type FlushResult, RedemptionStore, type Selection } from '../../consumers/redemption-store.js';
import { countUserRedemptions, type KeyPair } from '../../consumers/sql/statements.js';
import type { SourcedRequest } from '../../consumers/types.js';
import { loadConfig } from '../../lib/config.js';
import { upsertCoupons } from '../../lib/coupon-catalog.js';
import { createKnex, dropDatabase, migrateToLatest, withDatabase } from '../../lib/mysql.js';
import type { RedemptionOp, RedemptionRequested } from '../../schemas/types.js';

/**
 * The flush's MySQL transaction (consumers/redemption-store.ts, sql/session.ts) on the machine's MariaDB,
 * in databases of its own: two round trips on a pool that takes several statements at once (the
 * Runtime's), one per statement on any other, with the same decisions and rows either way; and writes
 * refused part-way leave nothing behind.
 */

const id = randomBytes(4).toString('hex');
const urls = {
  together: `redeem_test_${id}_m`,
  apart: `redeem_test_${id}_s`,
  refused: `redeem_test_${id}_r`,
  reads: `redeem_test_${id}_p`,
  leftOut: `redeem_test_${id}_o`,
  overlapped: `redeem_test_${id}_l`,
  counts: `redeem_test_${id}_c`,
};
const pools: Knex[] = [];

/** A pool on its own migrated database, with two coupons; `queries` counts what is sent on its connections. */
async function pool(database: string, multipleStatements: boolean): Promise<{ knex: Knex; queries: () => number }> {
  const url = withDatabase(loadConfig({}).mysqlUrl, database);
  await migrateToLatest(url);
  const knex = createKnex(url, { min: 0, max: 1 }, 10, { multipleStatements });
  pools.push(knex);
  await upsertCoupons(knex, [
    { code: 'C1', campaign_id: 'camp', quota: 2, per_user_limit: 1, valid_from: new Date('2020-01-01'), valid_until: new Date('2099-01-01') },
    { code: 'C2', campaign_id: 'camp', quota: 5, per_user_limit: 1, valid_from: new Date('2020-01-01'), valid_until: new Date('2099-01-01') },
  ]);
  // Counts round trips on the pool's real connections (each `query` call is one), each connection once.
  let sent = 0;
  const counted = new WeakSet<object>();
  const client = knex.client as { acquireConnection(): Promise<{ query: (...args: unknown[]) => unknown }> };
  const acquire = client.acquireConnection.bind(client);
  client.acquireConnection = async () => {
    const connection = await acquire();
    if (!counted.has(connection)) {
      counted.add(connection);
      const query = connection.query;
      connection.query = function (this: unknown, ...args: unknown[]) {
        sent += 1;
        return query.apply(this, args);
      };
    }
    return connection;
  };
  return { knex, queries: () => sent };
}

let offset = 0;
function request(requestId: string, coupon: string, user: string, op: RedemptionOp = 'REDEEM', reverses: string | null = null): SourcedRequest {
  const r: RedemptionRequested = {
    request_id: requestId,
    coupon_code: coupon,
    user_id: user,
    order_id: `o-${requestId}`,
    op,
    reverses_request_id: reverses,
    amount_cents: 500,
    currency: 'EUR',
    occurred_at: new Date('2026-12-01T10:00:00Z'),
    source: 'test',
  };
  return { request: r, topic: 't', partition: 0, offset: offset++ };
}

const flushOf = (store: RedemptionStore, requests: readonly SourcedRequest[], cacheAnswered?: boolean) =>
  store.flush(requests, { consumerId: 'c', decidedAt: Date.parse('2026-12-01T10:00:01Z'), mode: { kind: 'commit' }, cacheAnswered });
const outcome = (r: FlushResult) =>
  r.records.map((d, i) => [d.request_id, d.decision, d.reason, d.remaining_quota, r.reemitted[i] ? 're-emitted' : null].filter((x) => x !== null).join(' '));

async function tables(knex: Knex) {
  return {
    coupons: await knex('coupons').select('code', 'redeemed_count').orderBy('code'),
    redemptions: await knex('redemptions').select('coupon_code', 'request_id', 'user_id', 'status', 'reversed_by_request_id').orderBy('request_id'),
    decisions: await knex('decisions').select('coupon_code', 'request_id', 'decision', 'reason', 'source_offset').orderBy('request_id'),
  };
}

afterAll(async () => {
  for (const knex of pools) await knex.destroy();
  for (const database of Object.values(urls)) await dropDatabase(withDatabase(loadConfig({}).mysqlUrl, database));
});

describe('the flush transaction', () => {
  it('takes two round trips where the pool allows several statements in one, one per statement otherwise, to the same decisions and rows', async () => {
    const together = await pool(urls.together, true);
    const apart = await pool(urls.apart, false);
    const first = [
      request('r1', 'C1', 'u1'),
      request('r2', 'C1', 'u1'),
      request('r3', 'C1', 'u2'),
      request('r4', 'C1', 'u3'),
      request('r5', 'C1', 'u1', 'REVERSE', 'r1'),
      request('r6', 'NOPE', 'u1'),
      request('r7', 'C2', 'u1'),
    ];
    // A redelivery of r1 (same offset), an upstream retry of r3 (a new offset), and a redemption the reversal made room for.
    const second = [first[0]!, { ...first[2]!, offset: offset++ }, request('r8', 'C1', 'u3')];
    const results: Record<'together' | 'apart', string[][]> = { together: [], apart: [] };
    const trips: Record<'together' | 'apart', number[]> = { together: [], apart: [] };
    for (const [name, p] of [
      ['together', together],
      ['apart', apart],
    ] as const) {
      const store = new RedemptionStore(p.knex);
      for (const batch of [first, second]) {
        const before = p.queries();
        const result = await flushOf(store, batch);
        trips[name].push(p.queries() - before);
        results[name].push(outcome(result));
        // Per flush: the reads and writes it reports, plus START TRANSACTION and COMMIT.
        if (name === 'apart') expect(p.queries() - before).toBe(result.statements + (before === 0 ? 1 : 0));
      }
    }
    expect(results.together).toEqual([
      ['r1 APPLIED 1', 'r2 REJECTED USER_LIMIT 1', 'r3 APPLIED 0', 'r4 REJECTED EXHAUSTED 0', 'r5 APPLIED 1', 'r6 REJECTED NOT_FOUND', 'r7 APPLIED 4'],
      ['r1 APPLIED 1 re-emitted', 'r3 DUPLICATE', 'r8 APPLIED 0'],
    ]);
    expect(results.apart).toEqual(results.together);
    // The pool's first transaction on a connection also sets its isolation level: with the start, or alone.
    expect(trips.together).toEqual([2, 2]);
    expect(await tables(apart.knex)).toEqual(await tables(together.knex));
  });

  it('leaves nothing behind when MySQL refuses a write sent with the COMMIT, and the connection serves the next flush', async () => {
    const { knex } = await pool(urls.refused, true);
    const store = new RedemptionStore(knex);
    // The coupons' count update is the flush's last write: the decisions and redemptions before it go through.
    await knex.raw("CREATE TRIGGER refuse_counts BEFORE UPDATE ON coupons FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'counts refused'");
    const batch = [request('a1', 'C1', 'u1'), request('a2', 'C2', 'u2')];
    await expect(flushOf(store, batch)).rejects.toThrow(/counts refused/);
    const refused = await tables(knex);
    expect(refused.decisions).toEqual([]);
    expect(refused.redemptions).toEqual([]);
    expect(refused.coupons.map((c) => Number(c.redeemed_count))).toEqual([0, 0]);
    await knex.raw('DROP TRIGGER refuse_counts');
    expect(outcome(await flushOf(store, batch))).toEqual(['a1 APPLIED 1', 'a2 APPLIED 4']);
    expect((await tables(knex)).decisions.map((d) => `${d.request_id} ${d.decision}`)).toEqual(['a1 APPLIED', 'a2 APPLIED']);
  });

  it('leaves out the read of prior decisions when Redis answered, and finds a request MySQL decided by its primary key instead', async () => {
    const reads = await pool(urls.reads, true);
    const leftOut = await pool(urls.leftOut, true);
    const first = request('p1', 'C1', 'u1');
    const retried = request('p2', 'C2', 'u1');
    const batches = [
      [first, retried],
      [request('p3', 'C1', 'u2')],
      // What Redis forgot: a redelivery of p1 (its offset) and an upstream retry of p2 (a new offset).
      [first, { ...retried, offset: offset++ }, request('p4', 'C2', 'u4')],
      [request('p5', 'C2', 'u5')],
      [request('p6', 'C2', 'u6')],
    ];
    const run = async (knex: Knex, cacheAnswered: boolean) => {
      const store = new RedemptionStore(knex);
      const flushed: FlushResult[] = [];
      for (const batch of batches) flushed.push(await flushOf(store, batch, cacheAnswered));
      return { outcomes: flushed.map(outcome), statements: flushed.map((r) => r.statements) };
    };
    const always = await run(reads.knex, false);
    const answered = await run(leftOut.knex, true);
    expect(answered.outcomes).toEqual(always.outcomes);
    expect(answered.outcomes[2]).toEqual(['p1 APPLIED 1 re-emitted', 'p2 DUPLICATE', 'p4 APPLIED 3']);
    expect(await tables(leftOut.knex)).toEqual(await tables(reads.knex));
    const [s0, s1, s2, s3, s4] = always.statements as [number, number, number, number, number];
    // A new store reads; then it leaves the read out until the PRIMARY KEY refuses a decision (flush 3:
    // the refused transaction's statements, then the flush with the read); the next flush reads, finds
    // nothing Redis would not know, and the one after leaves the read out again.
    expect(answered.statements).toEqual([s0, s1 - 1, s2 - 1 + s2, s3, s4 - 1]);
  });

  it('sends its first round trip while the Redis lookup is out, decides only what the lookup left, and reads prior decisions late when Redis did not answer', async () => {
    const { knex, queries } = await pool(urls.overlapped, true);
    const store = new RedemptionStore(knex);
    const flushWith = (candidates: readonly SourcedRequest[], selected: Promise<Selection>) =>
      store.flush(candidates, { consumerId: 'c', decidedAt: Date.parse('2026-12-01T10:00:01Z'), mode: { kind: 'commit' }, selected });
    /** A lookup still out: resolved by the test once it has seen what MySQL was sent meanwhile. */
    const pending = () => {
      let answer!: (s: Selection) => void;
      return { promise: new Promise<Selection>((resolve) => (answer = resolve)), answer };
    };
    const untilSent = async (count: number) => {
      for (let waited = 0; queries() < count && waited < 5_000; waited += 5) await new Promise((r) => setTimeout(r, 5));
      return queries();
    };
    const known = request('l1', 'C1', 'u1');
    await flushOf(store, [known]);
    // l1 is known to Redis and decided; l2 and l3 are new. Two round trips in all, the first before the lookup ends.
    const [l2, l3] = [request('l2', 'C1', 'u2'), request('l3', 'C2', 'u3')];
    const lookup = pending();
    const before = queries();
    const flushing = flushWith([known, l2, l3], lookup.promise);
    expect(await untilSent(before + 1)).toBe(before + 1);
    lookup.answer({ requests: [l2, l3], cacheAnswered: true });
    expect(outcome(await flushing)).toEqual(['l2 APPLIED 0', 'l3 APPLIED 4']);
    expect(queries() - before).toBe(2);
    // Redis down: its lookup answered nothing, so the flush reads l1's decision (one more round trip) and re-emits it.
    const l4 = request('l4', 'C2', 'u4');
    const down = pending();
    const again = queries();
    const redelivered = flushWith([known, l4], down.promise);
    await untilSent(again + 1);
    down.answer({ requests: [known, l4], cacheAnswered: false });
    expect(outcome(await redelivered)).toEqual(['l1 APPLIED 1 re-emitted', 'l4 APPLIED 3']);
    expect(queries() - again).toBe(3);
    expect((await tables(knex)).decisions.map((d) => d.request_id)).toEqual(['l1', 'l2', 'l3', 'l4']);
  });
});

describe("the count of a flush's user redemptions", () => {
  it('reads one range of redemptions_user_status whatever the statistics say, and counts only what is REDEEMED', async () => {
    const { knex } = await pool(urls.counts, true);
    // 40 coupons x 100 users, each pair with 0-2 redemptions, some of them reversed.
    const rows: Record<string, unknown>[] = [];
    const expected = new Map<string, number>();
    for (let c = 0; c < 40; c++) {
      for (let u = 0; u < 100; u++) {
        for (let k = 0; k < (c + u) % 3; k++) {
          const status = (c * u + k) % 5 === 0 ? 'REVERSED' : 'REDEEMED';
          const coupon = `K${c}`;
          const user = `u${u}`;
          rows.push({
            coupon_code: coupon,
            request_id: `${coupon}-${user}-${k}`,
            user_id: user,
            order_id: 'o',
            amount_cents: 1,
            currency: 'EUR',
            status,
            created_at: new Date(),
          });
          if (status === 'REDEEMED') expected.set(`${coupon}/${user}`, (expected.get(`${coupon}/${user}`) ?? 0) + 1);
        }
      }
    }
    for (let i = 0; i < rows.length; i += 1000) await knex('redemptions').insert(rows.slice(i, i + 1000));
    await knex.raw('ANALYZE TABLE redemptions');
    // 800 pairs: past the 200 below which MariaDB would dive into the index for each.
    const keys: KeyPair[] = [];
    for (let c = 0; c < 40; c++) for (let u = 0; u < 20; u++) keys.push([`K${c}`, `u${u * 5}`]);
    const read = countUserRedemptions(keys);
    const [plan] = (await knex.raw(read.sql.replace('SELECT coupon_code', 'EXPLAIN SELECT coupon_code'))) as [{ type: string; key: string }[]];
    expect(plan.map((p) => [p.type, p.key])).toEqual([['range', 'redemptions_user_status']]);
    const [result] = (await knex.raw(read.sql)) as [unknown];
    const counted = new Map(read.rows(result).map((r) => [`${r.couponCode}/${r.userId}`, r.redeemed]));
    const wanted = new Map(keys.flatMap(([c, u]) => (expected.has(`${c}/${u}`) ? [[`${c}/${u}`, expected.get(`${c}/${u}`)!] as const] : [])));
    expect(counted).toEqual(wanted);
    expect(counted.size).toBeGreaterThan(100);
  });
});
