import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { LISTEN_BACKLOG } from '../../cli/commands/serve.js';
import { upsertCoupons } from '../../lib/coupon-catalog.js';
import type { RedemptionRequested } from '../../schemas/types.js';
import { decisionCoupons, request, T0 } from './fixtures.js';
import { BackgroundConsumer, IsolatedPipeline, waitUntil } from './helpers.js';

/**
 * `redeem serve` on the real stack, as a checkout calls it over HTTP: every answer the API documents
 * (applied, a duplicate with its original outcome, each rejection reason, a wait that runs out, a bad
 * body, a missing token, an oversized body), the look-up, the documents, and a graceful stop.
 */

const BIN = fileURLToPath(new URL('../../bin/redeem.mjs', import.meta.url));
const TOKEN = 'serve-test-token-0123456789';

describe('redeem serve: the HTTP entry', () => {
  const p = new IsolatedPipeline();
  let server: ChildProcess;
  let base = '';
  let consumer: BackgroundConsumer | null = null;
  let stdout = '';
  let stderr = '';

  beforeAll(async () => {
    await p.setUp();
    await upsertCoupons(p.rt.knex(), decisionCoupons());
    const tokenFile = join(tmpdir(), `redeem-serve-${p.id}.tokens`);
    writeFileSync(tokenFile, `# checkout tokens\n${TOKEN}\n`, { mode: 0o600 });
    server = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--token-file', tokenFile, '--body-limit', '2048'], {
      env: { ...process.env, ...p.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitUntil('redeem serve to listen', async () => /serving (http:\/\/\S+?)[ ]/.test(stdout) || server.exitCode !== null, 60_000);
    expect(server.exitCode, stderr).toBeNull();
    base = /serving (http:\/\/\S+?)[ ]/.exec(stdout)![1]!;
  }, 90_000);

  afterAll(async () => {
    if (server.exitCode === null) server.kill('SIGKILL');
    if (consumer) await consumer.stop();
    await p.cleanup();
  });

  const json = (r: RedemptionRequested) => JSON.stringify({ ...r, occurred_at: r.occurred_at.toISOString() });
  const checkout = (id: string, coupon: string, extra: Partial<RedemptionRequested> = {}) => request(id, coupon, 'u1', 10, { order_id: `o-${id}`, ...extra });
  const post = (body: string, query = '', headers: Record<string, string> = {}) =>
    fetch(`${base}/v1/redemptions${query}`, {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}`, ...headers },
    });
  const get = (path: string) => fetch(`${base}${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } });

  it('refuses a missing or wrong token, a bad body naming each bad field, a body that is not JSON and an oversized one', async () => {
    const noToken = await fetch(`${base}/v1/redemptions`, {
      method: 'POST',
      body: json(checkout('t1', 'OK')),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(noToken.status).toBe(401);
    expect(noToken.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(noToken.headers.get('www-authenticate')).toBe('Bearer');
    expect((await post(json(checkout('t1', 'OK')), '', { Authorization: 'Bearer wrong' })).status).toBe(401);

    const bad = await post(
      JSON.stringify({ request_id: 'b1', coupon_code: 'OK', user_id: 'u1', op: 'REDEEM', amount_cents: -5, currency: 'euro', occurred_at: 'yesterday' }),
    );
    expect(bad.status).toBe(422);
    expect(bad.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await bad.json()) as { status: number; errors: { field: string | null }[] };
    expect(problem.status).toBe(422);
    expect(problem.errors.map((e) => e.field).sort()).toEqual(['amount_cents', 'currency', 'occurred_at', 'order_id', 'source']);

    const notJson = await post('{"request_id": ');
    expect(notJson.status).toBe(400);
    expect(notJson.headers.get('content-type')).toMatch(/^application\/problem\+json/);

    const huge = await post(json(checkout('h1', 'OK', { source: 'x'.repeat(4000) })));
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as { detail: string }).detail).toContain('2048 bytes');
  });

  it('?wait that runs out answers 202: the request is in Kafka, its decision follows at the Location', async () => {
    // No consumer yet: nothing decides.
    const answer = await post(json(checkout('w1', 'OK', { user_id: 'w-user' })), '?wait=1500');
    expect(answer.status).toBe(202);
    expect(answer.headers.get('location')).toBe('/v1/redemptions/OK/w1');
    expect(await answer.json()).toMatchObject({ status: 'accepted', request_id: 'w1' });
    expect((await get('/v1/redemptions/OK/w1')).status).toBe(404);
  });

  it('?wait answers 200 with the decision: applied, a duplicate with its original outcome, each rejection reason', async () => {
    consumer = new BackgroundConsumer(p.env);
    const decided = async (r: RedemptionRequested) => {
      const answer = await post(json(r), '?wait=30000');
      expect(answer.status, await answer.clone().text()).toBe(200);
      return (await answer.json()) as { decision: string; reason: string | null; retry: boolean; record: { request_id: string } };
    };
    // The request whose wait ran out, sent again: its original outcome, as a retry.
    expect(await decided(checkout('w1', 'OK', { user_id: 'w-user' }))).toMatchObject({ decision: 'APPLIED', reason: null, retry: true });
    const answers = await Promise.all([
      decided(checkout('a1', 'ONE', { user_id: 'u-a' })),
      decided(checkout('a2', 'ONE', { user_id: 'u-b', occurred_at: new Date(T0.getTime() + 20) })),
      decided(checkout('e1', 'OLD')),
      decided(checkout('n1', 'NEW')),
      decided(checkout('x1', 'NOPE')),
      decided(checkout('r1', 'OK', { op: 'REVERSE', reverses_request_id: 'never' })),
      decided(checkout('l1', 'OK', { user_id: 'w-user' })),
    ]);
    expect(answers.map((a) => [a.record.request_id, a.decision, a.reason, a.retry])).toEqual([
      ['a1', 'APPLIED', null, false],
      ['a2', 'REJECTED', 'EXHAUSTED', false],
      ['e1', 'REJECTED', 'EXPIRED', false],
      ['n1', 'REJECTED', 'NOT_YET_VALID', false],
      ['x1', 'REJECTED', 'NOT_FOUND', false],
      ['r1', 'REJECTED', 'NOT_REDEEMED', false],
      ['l1', 'REJECTED', 'USER_LIMIT', false],
    ]);
    expect(await decided(checkout('a2', 'ONE', { user_id: 'u-b' }))).toMatchObject({ decision: 'REJECTED', reason: 'EXHAUSTED', retry: true });
  }, 120_000);

  it('without wait: 202 once in Kafka; GET answers the stored decision, 404 for none', async () => {
    const accepted = await post(json(checkout('g1', 'OK', { user_id: 'g-user' })));
    expect(accepted.status).toBe(202);
    await waitUntil('the decision of g1', async () => (await get('/v1/redemptions/OK/g1')).status === 200, 30_000);
    expect(await (await get('/v1/redemptions/OK/g1')).json()).toMatchObject({ status: 'decided', coupon_code: 'OK', request_id: 'g1', decision: 'APPLIED' });
    const none = await get('/v1/redemptions/OK/never-sent');
    expect(none.status).toBe(404);
    expect(none.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  }, 60_000);

  it("listens with room for a burst of connections: a backlog of 4,096 (or the kernel cap), not Node's 511", () => {
    const listening = spawnSync('ss', ['-ltnH', `sport = :${new URL(base).port}`], { encoding: 'utf8' });
    expect(listening.status, listening.stderr).toBe(0);
    // A listening socket's Send-Q is its backlog.
    const backlog = Number(listening.stdout.trim().split(/\s+/)[2]);
    const cap = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    expect(backlog).toBe(Math.min(LISTEN_BACKLOG, cap));
  });

  it('serves /openapi.json, /healthz and /readyz without a token, and stops gracefully on SIGTERM', async () => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/v1/redemptions/{coupon}/{request_id}');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const exited = new Promise<number | null>((resolve) => server.on('close', resolve));
    server.kill('SIGTERM');
    expect(await exited, stderr).toBe(0);
    expect(stdout).toContain('stopped: every accepted request is in Kafka');
  }, 60_000);

  it('refuses to bind beyond loopback without tokens', async () => {
    const refused = await p.cli(['serve', '--host', '0.0.0.0', '--port', '0']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--token-file');
  });
});
