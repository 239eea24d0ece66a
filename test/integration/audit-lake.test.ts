import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { sqlString, withDuckDB } from '../../analytics/duckdb.js';
import { LAYOUT_FOLDER } from '../../analytics/layout.js';
import { couponCodes } from '../../lib/coupon-catalog.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import { writeTemp } from './fixtures.js';
import { IsolatedPipeline, REDEEM, waitUntil } from './helpers.js';

const REQUESTS = 3000;

/** The landed files' names, each with its hour folder: a re-run must leave the same set. */
const landedFiles = (dir: string): string[] =>
  existsSync(join(dir, LAYOUT_FOLDER))
    ? readdirSync(join(dir, LAYOUT_FOLDER), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.parquet'))
        .sort()
    : [];

async function landedCounts(dir: string): Promise<{ rows: number; sources: number; noCampaign: number; byOutcome: Record<string, number> }> {
  const files = sqlString(join(dir, LAYOUT_FOLDER, '**', '*.parquet'));
  return withDuckDB(async (db) => {
    const [totals] = (
      await db.runAndReadAll(
        `SELECT count(*), count(DISTINCT (source_partition, source_offset)), count(*) FILTER (WHERE campaign_id IS NULL AND reason IS DISTINCT FROM 'NOT_FOUND') FROM read_parquet(${files})`,
      )
    ).getRows();
    const outcomes = (await db.runAndReadAll(`SELECT coalesce(reason, decision), count(*) FROM read_parquet(${files}) GROUP BY ALL`)).getRows();
    return {
      rows: Number(totals![0]),
      sources: Number(totals![1]),
      noCampaign: Number(totals![2]),
      byOutcome: Object.fromEntries(outcomes.map(([k, n]) => [String(k), Number(n)])),
    };
  });
}

describe('audit sink and audit query: every decision once in the Parquet files, through a kill -9 and re-runs; SQL answers as MySQL', () => {
  const p = new IsolatedPipeline();
  const dir = mkdtempSync(join(tmpdir(), 'audit-sink-'));

  beforeAll(async () => {
    await p.setUp();
    expect((await p.cli(['coupons', 'generate', '--count', '20', '--prefix', 'SNK', '--quota', '40', '--campaigns', '3'])).code).toBe(0);
    await p.produce([...simulateCheckout({ ...DEFAULT_SIMULATION, count: REQUESTS, couponCodes: couponCodes('SNK', 20), users: 100, seed: 23 })]);
    expect((await p.cli(['consume', '--exit-when-idle', '1'])).code).toBe(0);
    // The replay re-emits every decision: the audit topic holds each twice, the files must hold it once.
    const replay = await p.cli(['replay', '--no-progress']);
    expect(replay.code, replay.stderr).toBe(0);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await p.cleanup();
  });

  async function mysqlOutcomes(): Promise<Record<string, number>> {
    const rows = (await p.rt.knex()('decisions').select('decision', 'reason').count({ n: '*' }).groupBy('decision', 'reason')) as {
      decision: string;
      reason: string | null;
      n: number | string;
    }[];
    return Object.fromEntries(rows.map((r) => [r.reason ?? r.decision, Number(r.n)]));
  }

  it('a sink killed with SIGKILL mid-way, then run again, leaves each decision once', async () => {
    // Small chunks, so that the kill falls among many chunks' writes, renames and commits.
    const child = spawn(process.execPath, [REDEEM, 'audit', 'sink', '--to', dir, '--follow', '--max-rows', '20', '--max-wait', '100ms'], {
      env: { ...process.env, ...p.env },
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal === 'SIGKILL' ? null : 1)));
    await waitUntil('the sink to land a few chunks', async () => landedFiles(dir).length >= 8, 60_000);
    child.kill('SIGKILL');
    expect(await exited).toBeNull();
    const partial = await landedCounts(dir);
    expect(partial.rows).toBeLessThan(REQUESTS);

    const rerun = await p.cli(['audit', 'sink', '--to', dir, '--exit-when-idle', '1', '--max-rows', '20']);
    expect(rerun.code, rerun.stderr).toBe(0);
    const landed = await landedCounts(dir);
    expect(landed.rows).toBe(REQUESTS);
    expect(landed.sources).toBe(REQUESTS);
    expect(landed.noCampaign).toBe(0);
    const mysql = await mysqlOutcomes();
    for (const outcome of ['APPLIED', 'NOT_FOUND', 'EXHAUSTED', 'USER_LIMIT', 'NOT_REDEEMED'])
      expect(landed.byOutcome[outcome] ?? 0, outcome).toBe(mysql[outcome] ?? 0);
    expect(readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a re-run at the end rewrites the same files and adds nothing', async () => {
    const before = landedFiles(dir);
    const again = await p.cli(['audit', 'sink', '--to', dir, '--exit-when-idle', '1', '--max-rows', '20']);
    expect(again.code, again.stderr).toBe(0);
    expect(landedFiles(dir)).toEqual(before);
    expect((await landedCounts(dir)).rows).toBe(REQUESTS);
  });

  it('audit query answers the example questions as MySQL counts them', async () => {
    // The examples ask about yesterday; these decisions are today's.
    const sql = readFileSync(new URL('../../examples/analyst-queries.sql', import.meta.url), 'utf8').replace('current_date - 1', 'current_date - 0');
    const answer = await p.cli(['audit', 'query', '--dir', dir, '--format', 'json', '--file', writeTemp(sql, 'analyst-queries.sql')]);
    expect(answer.code, answer.stderr).toBe(0);
    const rows = answer.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, string | number | null>);
    const knex = p.rt.knex();

    const netByCampaign = new Map<string, number>();
    for (const r of rows.filter((r) => 'net' in r)) netByCampaign.set(String(r.campaign_id), (netByCampaign.get(String(r.campaign_id)) ?? 0) + Number(r.net));
    const redeemed = (await knex('coupons').select('campaign_id').sum({ n: 'redeemed_count' }).groupBy('campaign_id')) as { campaign_id: string; n: string }[];
    expect(Object.fromEntries(netByCampaign)).toEqual(Object.fromEntries(redeemed.map((r) => [r.campaign_id, Number(r.n)])));

    const rejected = (await knex('decisions')
      .leftJoin('coupons', 'coupons.code', 'decisions.coupon_code')
      .where('decision', 'REJECTED')
      .select('campaign_id', 'reason')
      .count({ n: '*' })
      .groupBy('campaign_id', 'reason')) as { campaign_id: string | null; reason: string; n: number }[];
    const key = (campaign: unknown, reason: unknown) => `${String(campaign)}/${String(reason)}`;
    expect(Object.fromEntries(rows.filter((r) => 'rejected' in r).map((r) => [key(r.campaign_id, r.reason), r.rejected]))).toEqual(
      Object.fromEntries(rejected.map((r) => [key(r.campaign_id, r.reason), Number(r.n)])),
    );

    const limited = rows.filter((r) => 'refused_at_limit' in r).map((r) => Number(r.refused_at_limit));
    expect(limited.length).toBeGreaterThan(0);
    expect(limited).toEqual([...limited].sort((a, b) => b - a));

    const exhausted = (await knex('decisions').where('reason', 'EXHAUSTED').distinct('coupon_code')) as { coupon_code: string }[];
    expect(
      rows
        .filter((r) => 'seconds_to_run_out' in r)
        .map((r) => r.coupon_code)
        .sort(),
    ).toEqual(exhausted.map((r) => r.coupon_code).sort());
    expect(rows.filter((r) => 'percent_used' in r).map((r) => r.campaign_id)).toEqual([...netByCampaign.keys()].sort());
  });

  it("audit query: bad SQL gets DuckDB's message and exit 1, no stack trace", async () => {
    const bad = await p.cli(['audit', 'query', '--dir', dir, 'SELECT decison FROM decisions']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('Binder Error');
    expect(bad.stderr).toContain('decison');
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });
});
