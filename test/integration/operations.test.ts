import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { checkpointPath } from '../../cli/commands/produce.js';
import { couponCodes } from '../../lib/coupon-catalog.js';
import { dropDatabase, withDatabase } from '../../lib/mysql.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import { writeJsonLines } from './fixtures.js';
import { drained, IsolatedPipeline, REDEEM, verifyEqual, waitUntil } from './helpers.js';

const CODES = couponCodes('OPS', 40);
const burst = (count: number, seed: number) => [...simulateCheckout({ ...DEFAULT_SIMULATION, count, couponCodes: CODES, users: 200, seed })];

async function snapshot(p: IsolatedPipeline): Promise<unknown> {
  const knex = p.rt.knex();
  return {
    coupons: await knex('coupons').select('code', 'redeemed_count').orderBy('code'),
    redemptions: await knex('redemptions').select('coupon_code', 'request_id', 'status').orderBy(['coupon_code', 'request_id']),
  };
}

const figure = (output: string, label: string) => Number(new RegExp(`^${label}\\s+(\\d+)`, 'm').exec(output)?.[1]);

describe('operating the pipeline: replay, rebuild, diff, status, audit, the analyst example, resumable backfill', () => {
  const p = new IsolatedPipeline();
  const rebuildDb = `redeem_test_${p.id}_rebuilt`;

  beforeAll(async () => {
    await p.setUp();
    expect((await p.cli(['coupons', 'generate', '--count', '40', '--prefix', 'OPS', '--quota', '60', '--campaigns', '4'])).code).toBe(0);
    await p.produce(burst(3000, 1));
    expect((await p.cli(['consume', '--exit-when-idle', '1'])).code).toBe(0);
  });
  afterAll(async () => {
    await dropDatabase(withDatabase(p.config.mysqlUrl, rebuildDb));
    await p.cleanup();
  });

  it('replaying a fully applied topic changes nothing and says so', async () => {
    const before = await snapshot(p);
    const result = await p.cli(['replay', '--no-progress']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('replayed 3000 messages');
    expect(figure(result.stdout, 'applied')).toBe(0);
    expect(figure(result.stdout, 'rejected')).toBe(0);
    expect(figure(result.stdout, 'unchanged') + figure(result.stdout, 'duplicates')).toBe(3000);
    expect(await snapshot(p)).toEqual(before);
  });

  it('--dry-run reports what new requests would change and writes nothing; a real replay will not run ahead of the live group, which then does exactly what the dry run said', async () => {
    await sleep(20);
    const secondBurstAt = new Date(Date.now());
    await p.produce(burst(1000, 2));
    const before = await snapshot(p);
    const dry = await p.cli(['replay', '--dry-run', '--from-timestamp', secondBurstAt.toISOString(), '--no-progress']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('dry run, nothing written: replayed 1000 messages');
    expect(await snapshot(p)).toEqual(before);
    // The live group has not decided the new burst yet: a real replay of it would decide ahead of it.
    const ahead = await p.cli(['replay', '--from-timestamp', secondBurstAt.toISOString(), '--to-timestamp', new Date().toISOString(), '--no-progress']);
    expect(ahead.code).toBe(1);
    expect(ahead.stderr).toMatch(
      /REPLAY_AHEAD_OF_LIVE: the live group test-\w+-group has not yet decided the whole range \(partition \d: live group committed \d+, replay reads up to \d+/,
    );
    expect(await snapshot(p)).toEqual(before);
    const live = await p.cli(['consume', '--exit-when-idle', '1', '--max-wait', '120']);
    expect(live.code, live.stderr).toBe(0);
    for (const label of ['applied', 'duplicates', 'rejected']) expect(figure(live.stdout, label)).toBe(figure(dry.stdout, label));
    expect(figure(live.stdout, 'applied')).toBeGreaterThan(0);
    // Now the replay may run, and finds it all decided.
    const real = await p.cli(['replay', '--from-timestamp', secondBurstAt.toISOString(), '--to-timestamp', new Date().toISOString(), '--no-progress']);
    expect(real.code, real.stderr).toBe(0);
    expect(figure(real.stdout, 'applied')).toBe(0);
    expect(figure(real.stdout, 'unchanged') + figure(real.stdout, 'duplicates')).toBe(1000);
    expect((await verifyEqual(p)).equal).toBe(true);
  });

  it('replays a range given by offsets', async () => {
    const result = await p.cli(['replay', '--from-offsets', '0:10,1:10,2:10', '--dry-run', '--no-progress']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('replayed 3970 messages');
    expect((await p.cli(['replay', '--from-offsets', '7:0', '--no-progress'])).stderr).toMatch(/has no partition 7/);
  });

  it('rebuild into a fresh database, then diff: no differences; a tampered row is reported', async () => {
    const rebuilt = await p.cli(['rebuild', '--into', rebuildDb, '--no-progress']);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(rebuilt.stdout).toContain('rebuilt');
    // Its cache namespace was its own (named by the fresh database's identity) and is gone afterwards.
    expect(await (await p.rt.connectedRedis()).keys(`${p.config.redisKeyPrefix}-rebuild-${rebuildDb}:*`)).toEqual([]);
    const same = await p.cli(['diff', rebuildDb]);
    expect(same.code, same.stdout).toBe(0);
    expect(same.stdout).toContain('no differences');
    const again = await p.cli(['rebuild', '--into', rebuildDb, '--no-progress']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already holds \d+ decisions; rebuild into a fresh database/);

    await p.rt.knex().raw(`UPDATE \`${rebuildDb}\`.coupons SET redeemed_count = redeemed_count + 1 WHERE code = 'OPS-000001'`);
    const different = await p.cli(['diff', rebuildDb]);
    expect(different.code).toBe(1);
    expect(different.stdout).toMatch(/coupon OPS-000001: redeemed_count \d+ in redeem_test_\w+_rebuilt, \d+ in redeem_test_\w+/);
  });

  it('status shows the services, the group, lag per partition and the last flush', async () => {
    const result = await p.cli(['status']);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/kafka\s+127\.0\.0\.1:9092\s+up/);
    expect(result.stdout).toContain(`group ${p.config.consumerGroup}: Empty, 0 member(s)`);
    expect(result.stdout).toMatch(/partition 0: end \d+, committed \d+, lag 0/);
    expect(result.stdout).toContain('total lag 0');
    expect(result.stdout).toMatch(/last flush \d{4}-\d\d-\d\dT.* by .*: \d+ decision\(s\)/);
  });

  it('audit tail filters by coupon, decision, reason and time; audit stats counts', async () => {
    const knex = p.rt.knex();
    const [{ n }] = (await knex('decisions').where({ coupon_code: 'OPS-000001', decision: 'REJECTED', reason: 'EXHAUSTED' }).count({ n: '*' })) as [
      { n: number },
    ];
    const tail = await p.cli([
      'audit',
      'tail',
      '--from-beginning',
      '--coupon',
      'OPS-000001',
      '--decision',
      'REJECTED',
      '--reason',
      'EXHAUSTED',
      '--exit-when-idle',
      '2',
    ]);
    const lines = tail.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { coupon_code: string; reason: string });
    expect(Number(n)).toBeGreaterThan(0);
    // Each decision once, plus the records re-emitted by the replays: identical ones.
    expect(new Set(lines.map((l) => JSON.stringify(l))).size).toBe(Number(n));
    expect(lines.every((l) => l.coupon_code === 'OPS-000001' && l.reason === 'EXHAUSTED')).toBe(true);
    const future = await p.cli(['audit', 'tail', '--since', new Date(Date.now() + 3_600_000).toISOString(), '--exit-when-idle', '2']);
    expect(future.stdout).toBe('');
    expect((await p.cli(['audit', 'tail', '--decision', 'MAYBE'])).stderr).toMatch(/must be one of APPLIED, DUPLICATE, REJECTED/);

    const stats = await p.cli(['audit', 'stats', '--since', '1h', '--top', '3']);
    expect(stats.code, stats.stderr).toBe(0);
    const total = Number(/audit records since .*: (\d+)/.exec(stats.stdout)?.[1]);
    const decisions = ['APPLIED', 'DUPLICATE', 'REJECTED'].reduce((sum, d) => sum + (Number(new RegExp(`  ${d}\\s+(\\d+)`).exec(stats.stdout)?.[1]) || 0), 0);
    expect(decisions).toBe(total);
    expect(stats.stdout.split('top coupons by redemptions applied\n')[1]!.trim().split('\n')).toHaveLength(3);
  });

  it('the analyst example counts net redemptions per campaign, as MySQL has them', async () => {
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../../examples/campaign-redemptions.ts', import.meta.url)), '--once'], {
        env: { ...process.env, ...p.env, ANALYST_GROUP: `test-${p.id}-analyst` },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`example exited ${code}`))));
    });
    const counts = (JSON.parse(output.trim().split('\n').pop()!) as { net_redemptions_by_campaign: Record<string, number> }).net_redemptions_by_campaign;
    const rows = (await p.rt.knex()('coupons').select('campaign_id').sum({ n: 'redeemed_count' }).groupBy('campaign_id')) as {
      campaign_id: string;
      n: number | string;
    }[];
    expect(counts).toEqual(Object.fromEntries(rows.map((r) => [r.campaign_id, Number(r.n)])));
  });

  it('produce --file --resume continues after the last acknowledged line of an interrupted backfill', async () => {
    const requests = burst(3000, 3);
    const file = writeJsonLines(requests, 'backfill');
    const startEnds = [...(await p.endOffsets(p.config.redemptionTopic)).values()].reduce((a, b) => a + b, 0);
    const child = spawn(process.execPath, [REDEEM, 'produce', '--file', file, '--rate', '1000', '--no-progress'], {
      env: { ...process.env, ...p.env },
      stdio: 'ignore',
    });
    await waitUntil('part of the file to be acknowledged', async () => {
      try {
        return Number(readFileSync(checkpointPath(file), 'utf8')) > 300;
      } catch {
        return false;
      }
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('close', resolve));
    const acknowledged = Number(readFileSync(checkpointPath(file), 'utf8'));
    expect(acknowledged).toBeLessThan(3000);

    const resumed = await p.cli(['produce', '--file', file, '--resume', '--no-progress']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain(`produced ${3000 - acknowledged} requests`);
    const sent = [...(await p.endOffsets(p.config.redemptionTopic)).values()].reduce((a, b) => a + b, 0) - startEnds;
    // At least once: a batch in flight when the process died may be on the topic twice.
    expect(sent).toBeGreaterThanOrEqual(3000);
    expect(sent).toBeLessThanOrEqual(3000 + 50);
    expect((await p.cli(['consume', '--exit-when-idle', '1'])).code).toBe(0);
    await waitUntil('the group to drain', () => drained(p));
    const { equal, report } = await verifyEqual(p);
    expect(equal, report).toBe(true);
    const decided = (await p.rt
      .knex()('decisions')
      .whereIn(
        'request_id',
        requests.map((r) => r.request_id),
      )
      .count({ n: '*' })) as [{ n: number }];
    expect(Number(decided[0].n)).toBe(new Set(requests.map((r) => `${r.coupon_code}/${r.request_id}`)).size);
  });
});
