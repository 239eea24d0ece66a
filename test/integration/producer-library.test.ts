import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// The package's own name, as an upstream checkout imports it (tsconfig paths map it to index.ts here).
import { RedemptionProducer, type RedemptionRequested, RequestRefusedError } from 'coupon-redemption-pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { request } from './fixtures.js';
import { IsolatedPipeline } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const libraryRequest = (id: string, coupon: string, extra: Partial<RedemptionRequested> = {}): RedemptionRequested =>
  request(id, coupon, 'u1', 1, { order_id: `o-${id}`, amount_cents: 100, source: 'lib-test', ...extra });

describe('the producer as a library', () => {
  const p = new IsolatedPipeline();
  beforeAll(() => p.setUp());
  afterAll(() => p.cleanup());

  it('sends concurrent checkouts in call order, refuses a bad one alone with its problems, and drains on disconnect', async () => {
    const producer = await RedemptionProducer.create({
      brokers: p.config.kafkaBrokers,
      schemaRegistryUrl: p.config.schemaRegistryUrl,
      topic: p.config.redemptionTopic,
      clientId: 'lib-test',
    });
    const good = Array.from({ length: 300 }, (_, i) => libraryRequest(`r${i}`, `LIB-${i % 7}`));
    const sends = good.map((r) => producer.send(r));
    const refused = await producer.send(libraryRequest('bad', 'LIB-0', { amount_cents: -1, currency: 'euro' })).catch((e: unknown) => e);
    // Sent without waiting, right before disconnect: disconnect must still deliver them.
    const late = [libraryRequest('late-1', 'LIB-1'), libraryRequest('late-2', 'LIB-1')];
    const lateSends = late.map((r) => producer.send(r));
    await producer.disconnect();
    await Promise.all([...sends, ...lateSends]);
    await expect(producer.send(libraryRequest('after', 'LIB-1'))).rejects.toThrow(/disconnected/);

    expect(refused).toBeInstanceOf(RequestRefusedError);
    expect((refused as RequestRefusedError).code).toBe('REQUEST_INVALID');
    expect((refused as RequestRefusedError).problems).toEqual([expect.stringMatching(/amount_cents/), expect.stringMatching(/currency/)]);

    const all = [...good, ...late];
    const messages = await p.readTopic(p.config.redemptionTopic, all.length);
    expect(messages).toHaveLength(all.length);
    const codec = p.rt.registry().decoderFor<RedemptionRequested>('requested');
    const decoded = await Promise.all(messages.map(async (m) => ({ m, r: await codec.decode(m.value!) })));
    // Per coupon, in the order `send` was called (each coupon sits in one partition; readTopic keeps partition order).
    for (let c = 0; c < 7; c++) {
      const sent = all.filter((r) => r.coupon_code === `LIB-${c}`).map((r) => r.request_id);
      expect(decoded.filter((d) => d.r.coupon_code === `LIB-${c}`).map((d) => d.r.request_id)).toEqual(sent);
    }
    expect(decoded.every((d) => d.m.headers!['client.id']!.toString() === 'lib-test' && d.m.key!.toString() === d.r.coupon_code)).toBe(true);
    expect(decoded.some((d) => d.r.request_id === 'bad')).toBe(false);
  });

  it('examples/checkout.ts: accepts a checkout (202), refuses a bad one (422), and drains on SIGTERM', async () => {
    // tsx's loader in the example's own process, not tsx's CLI: the CLI runs the script in a child and
    // relays SIGTERM to it, and when the child does not confirm within 30 ms (a busy host) it kills the
    // child and exits 143 itself (a fresh clone's suite failed so, 2026-12-06).
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/checkout.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: '0',
        KAFKA_BROKERS: p.config.kafkaBrokers.join(','),
        SCHEMA_REGISTRY_URL: p.config.schemaRegistryUrl,
        REDEMPTION_TOPIC: p.config.redemptionTopic,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        const match = /listening on :(\d+)/.exec(stderr);
        if (match) resolve(Number(match[1]));
      });
      child.on('close', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const post = (body: unknown) => fetch(`http://127.0.0.1:${port}/redemptions`, { method: 'POST', body: JSON.stringify(body) });
    const json = (r: RedemptionRequested) => ({ ...r, occurred_at: r.occurred_at.toISOString() });
    const [ok1, ok2, bad] = await Promise.all([
      post(json(libraryRequest('http-1', 'HTTP'))),
      post(json(libraryRequest('http-2', 'HTTP'))),
      post(json(libraryRequest('http-bad', ''))),
    ]);
    expect([ok1.status, ok2.status, bad.status]).toEqual([202, 202, 422]);
    expect(((await bad.json()) as { problems: string[] }).problems).toEqual(['coupon_code must not be empty']);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    const before = await p.endOffsets(p.config.redemptionTopic);
    const total = [...before.values()].reduce((a, b) => a + b, 0);
    const messages = await p.readTopic(p.config.redemptionTopic, total);
    const http = messages.filter((m) => m.headers!['client.id']?.toString() === 'checkout-example');
    expect(http.map((m) => m.key!.toString())).toEqual(['HTTP', 'HTTP']);
  });
});
