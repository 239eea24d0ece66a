/**
 * Query: `audit query` over 1,000,000 landed decisions. The decisions are generated straight into the
 * landed layout by DuckDB (one day, 24 hour folders; campaigns, coupons, users, outcomes and reasons
 * spread as a checkout's would be), then the example questions (examples/analyst-queries.sql, those on
 * `decisions`) run as `audit query` runs them: a fresh in-process DuckDB, the `decisions` view, each
 * statement timed from submission to its last row. No Kafka, Redis or MySQL is involved.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

import { sqlString, withDuckDB } from '../../analytics/duckdb.js';
import { LAYOUT_FOLDER } from '../../analytics/layout.js';
import { createDecisionsView, namesCatalogue } from '../../analytics/query/views.js';
import { CHECKOUT_DIR } from '../../scripts/checkout-dir.js';
import { round } from './context.js';

export interface QueryRun {
  /** The host's 1-minute load average before and after. */
  load: [number, number];
  decisions: number;
  files: number;
  generateSeconds: number;
  /** Each example question (by its number in examples/analyst-queries.sql) and its time. */
  queries: { name: string; seconds: number; rows: number }[];
  /** The slowest of them. */
  slowestSeconds: number;
}

const DAY = '2026-12-04';

/** One day of decisions in the landed layout, written by DuckDB itself. */
async function generate(dir: string, decisions: number): Promise<number> {
  return withDuckDB(async (db) => {
    await db.run(`COPY (
      SELECT 'r-' || i AS request_id,
             'BENCH-' || lpad(((i * 7919) % 20000)::VARCHAR, 6, '0') AS coupon_code,
             CASE WHEN i % 40 = 0 THEN 'REVERSE' ELSE 'REDEEM' END AS op,
             CASE WHEN i % 10 < 7 THEN 'APPLIED' WHEN i % 10 < 9 THEN 'REJECTED' ELSE 'DUPLICATE' END AS decision,
             CASE WHEN i % 10 IN (7, 8) THEN (['EXHAUSTED', 'USER_LIMIT', 'NOT_FOUND', 'EXPIRED'])[1 + (i // 10) % 4] END AS reason,
             (i % 100)::BIGINT AS remaining_quota,
             CASE WHEN i % 10 = 9 THEN 'APPLIED' END AS original_decision,
             NULL::VARCHAR AS original_reason,
             'u-' || ((i * 31) % 50000) AS user_id,
             'o-' || i AS order_id,
             'campaign-' || ((i * 7919) % 20000) % 10 AS campaign_id,
             (1000 + i % 9000)::BIGINT AS amount_cents,
             'EUR' AS currency,
             TIMESTAMPTZ '${DAY} 00:00:00+00' + to_microseconds((i * 86400000000 // ${decisions})::BIGINT) AS occurred_at,
             TIMESTAMPTZ '${DAY} 00:00:00+00' + to_microseconds((i * 86400000000 // ${decisions} + 20000)::BIGINT) AS decided_at,
             'bench-member' AS consumer_id,
             (i % 12)::INTEGER AS source_partition,
             (i // 12)::BIGINT AS source_offset,
             (i % 12)::INTEGER AS audit_partition,
             (i // 12)::BIGINT AS audit_offset,
             decided_at::DATE AS decided_date,
             hour(decided_at) AS decided_hour
      FROM range(${decisions}) t(i)
    ) TO ${sqlString(join(dir, LAYOUT_FOLDER))} (FORMAT PARQUET, COMPRESSION ZSTD, PARTITION_BY (decided_date, decided_hour))`);
    const [[files]] = (await db.runAndReadAll(`SELECT count(*) FROM glob(${sqlString(join(dir, LAYOUT_FOLDER, '**', '*.parquet'))})`)).getRows() as [[bigint]];
    return Number(files);
  });
}

/** The example questions on `decisions` (the catalogue's need MySQL), for the generated day. */
function exampleStatements(): { name: string; sql: string }[] {
  const text = readFileSync(join(CHECKOUT_DIR, 'examples', 'analyst-queries.sql'), 'utf8');
  return text
    .split(/\n(?=-- \d+\. )/)
    .slice(1)
    .filter((part) => !namesCatalogue(part.replace(/^--.*$/gm, '')))
    .map((part) => ({ name: /^-- (\d+)\./.exec(part)![1]!, sql: part.replaceAll("getvariable('day')", `DATE '${DAY}'`) }));
}

export async function queryStage(print: (line: string) => void, decisions = 1_000_000): Promise<QueryRun> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-query-'));
  const loadBefore = round(loadavg()[0]!, 1);
  try {
    let started = performance.now();
    const files = await generate(dir, decisions);
    const generateSeconds = round((performance.now() - started) / 1000, 2);
    print(`query: ${decisions} decisions landed in ${files} files in ${generateSeconds} s`);
    const queries: QueryRun['queries'] = [];
    for (const q of exampleStatements()) {
      // As `audit query` runs: a fresh DuckDB and view per command.
      started = performance.now();
      const rows = await withDuckDB(async (db) => {
        await createDecisionsView(db, dir);
        return (await db.runAndReadAll(q.sql)).currentRowCount;
      });
      const seconds = round((performance.now() - started) / 1000, 3);
      queries.push({ name: `question ${q.name}`, seconds, rows });
      print(`query: question ${q.name} over ${decisions} decisions: ${seconds} s (${rows} rows)`);
    }
    const load: [number, number] = [loadBefore, round(loadavg()[0]!, 1)];
    return { load, decisions, files, generateSeconds, queries, slowestSeconds: Math.max(...queries.map((q) => q.seconds)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The figure as printed by `bench --query`: each question's time, the slowest, and the host's load. */
export function formatQueryRun(r: QueryRun): string {
  return [
    `audit query over ${r.decisions.toLocaleString('en')} landed decisions (${r.files} files, generated in ${r.generateSeconds} s), ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, load ${r.load[0]} before / ${r.load[1]} after`,
    ...r.queries.map((q) => `  ${q.name.padEnd(12)} ${q.seconds.toFixed(3)} s  (${q.rows} rows)`),
    `  slowest      ${r.slowestSeconds.toFixed(3)} s`,
  ].join('\n');
}
