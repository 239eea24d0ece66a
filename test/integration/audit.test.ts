import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { couponCodes } from '../../lib/coupon-catalog.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import { IsolatedPipeline } from './helpers.js';

const REQUESTS = 2000;
const figure = (output: string, label: string) => Number(new RegExp(`^\\s+${label}\\s+(\\d+)`, 'm').exec(output)?.[1] ?? 0);
const total = (output: string) => Number(/^audit records since .*: (\d+)$/m.exec(output)?.[1]);

describe('audit stats after a replay: each source record once, as MySQL has it', () => {
  const p = new IsolatedPipeline();

  beforeAll(async () => {
    await p.setUp();
    expect((await p.cli(['coupons', 'generate', '--count', '20', '--prefix', 'AUD', '--quota', '40', '--campaigns', '3'])).code).toBe(0);
    await p.produce([...simulateCheckout({ ...DEFAULT_SIMULATION, count: REQUESTS, couponCodes: couponCodes('AUD', 20), users: 100, seed: 22 })]);
    expect((await p.cli(['consume', '--exit-when-idle', '2'])).code).toBe(0);
    // The replay re-emits every record: the audit topic now holds each decision twice.
    const replay = await p.cli(['replay', '--no-progress']);
    expect(replay.code, replay.stderr).toBe(0);
    const onAudit = [...(await p.endOffsets(p.config.auditTopic)).values()].reduce((a, b) => a + b, 0);
    expect(onAudit).toBe(2 * REQUESTS);
  });
  afterAll(() => p.cleanup());

  async function mysqlCounts(campaign?: string): Promise<Record<string, number>> {
    const query = p.rt.knex()('decisions').join('coupons', 'coupons.code', 'decisions.coupon_code');
    if (campaign) void query.where('coupons.campaign_id', campaign);
    const rows = (await query.select('decision', 'reason').count({ n: '*' }).groupBy('decision', 'reason')) as {
      decision: string;
      reason: string | null;
      n: number | string;
    }[];
    return Object.fromEntries(rows.map((r) => [r.reason ?? r.decision, Number(r.n)]));
  }

  it('counts by decision and reason equal MySQL', async () => {
    const stats = await p.cli(['audit', 'stats', '--since', 'today']);
    expect(stats.code, stats.stderr).toBe(0);
    const mysql = await mysqlCounts();
    expect(total(stats.stdout)).toBe(REQUESTS);
    expect(figure(stats.stdout, 'APPLIED')).toBe(mysql.APPLIED);
    for (const reason of ['NOT_FOUND', 'EXHAUSTED', 'USER_LIMIT', 'NOT_REDEEMED']) expect(figure(stats.stdout, reason), reason).toBe(mysql[reason] ?? 0);
    expect(figure(stats.stdout, 'APPLIED') + figure(stats.stdout, 'REJECTED') + figure(stats.stdout, 'DUPLICATE')).toBe(REQUESTS);
  });

  it('--campaign counts one campaign; tail prints each source record once', async () => {
    const [first] = (await p.rt.knex()('coupons').distinct('campaign_id').orderBy('campaign_id').limit(1)) as { campaign_id: string }[];
    const campaign = first!.campaign_id;
    const stats = await p.cli(['audit', 'stats', '--since', '1h', '--campaign', campaign]);
    expect(stats.code, stats.stderr).toBe(0);
    expect(figure(stats.stdout, 'APPLIED')).toBe((await mysqlCounts(campaign)).APPLIED);

    const tail = await p.cli(['audit', 'tail', '--campaign', campaign, '--decision', 'APPLIED', '--until', 'today']);
    expect(tail.code, tail.stderr).toBe(0);
    const lines = tail.stdout.trim().split('\n').filter(Boolean);
    expect(lines).toHaveLength((await mysqlCounts(campaign)).APPLIED!);
    expect(
      new Set(lines.map((l) => JSON.parse(l) as { source_partition: number; source_offset: number }).map((r) => `${r.source_partition}/${r.source_offset}`))
        .size,
    ).toBe(lines.length);
  });

  it('--until yesterday selects nothing; a time it cannot read is refused, naming the option', async () => {
    const none = await p.cli(['audit', 'stats', '--since', '2d', '--until', 'yesterday']);
    expect(none.code, none.stderr).toBe(0);
    expect(total(none.stdout)).toBe(0);
    const bad = await p.cli(['audit', 'stats', '--since', 'last week']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--since');
    expect(bad.stderr).toContain('must be a date (2026-12-04), yesterday, today');
    const reversed = await p.cli(['audit', 'tail', '--since', 'today', '--until', 'yesterday']);
    expect(reversed.code).toBe(1);
    expect(reversed.stderr).toMatch(/--until .* is before --since/);
  });

  it('the analyst example with --once finishes on every run and reports the totals so far', async () => {
    const run = () =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', fileURLToPath(new URL('../../examples/campaign-redemptions.ts', import.meta.url)), '--once'],
          {
            env: { ...process.env, ...p.env, ANALYST_GROUP: `test-${p.id}-analyst` },
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.on('close', (code) => {
          clearTimeout(timer);
          if (code === 0) resolve(out);
          else reject(new Error(`example exited ${code}`));
        });
      });
    const rows = (await p.rt.knex()('coupons').select('campaign_id').sum({ n: 'redeemed_count' }).groupBy('campaign_id')) as {
      campaign_id: string;
      n: number | string;
    }[];
    const expected = Object.fromEntries(rows.map((r) => [r.campaign_id, Number(r.n)]));
    for (let i = 0; i < 2; i += 1) {
      const output = await run();
      expect((JSON.parse(output.trim().split('\n').pop()!) as { net_redemptions_by_campaign: Record<string, number> }).net_redemptions_by_campaign).toEqual(
        expected,
      );
    }
  });
});
