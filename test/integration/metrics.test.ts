import { spawnSync } from 'node:child_process';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { couponCodes } from '../../lib/coupon-catalog.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import { BackgroundConsumer, drained, freePort, IsolatedPipeline, waitUntil } from './helpers.js';

const ALLOWED_LABELS = new Set(['decision', 'reason', 'code', 'partition', 'operation', 'stage', 'le', 'quantile', 'kind']);

describe('the consumer serves metrics, liveness and readiness', () => {
  // At LOG_LEVEL=warn: nothing here is read from the consumer's log.
  const p = new IsolatedPipeline({ LOG_LEVEL: 'warn' });
  let consumer: BackgroundConsumer | undefined;
  beforeAll(() => p.setUp());
  afterAll(async () => {
    await consumer?.kill9();
    await p.cleanup();
  });

  it('counts decisions by bounded labels only, and answers /healthz and /readyz', async () => {
    expect((await p.cli(['coupons', 'generate', '--count', '20', '--prefix', 'MET', '--quota', '10'])).code).toBe(0);
    const codes = couponCodes('MET', 25); // 5 of them unknown
    const requests = [...simulateCheckout({ ...DEFAULT_SIMULATION, count: 3000, couponCodes: codes, users: 50 })];
    await p.produce(requests);
    const port = await freePort();
    consumer = new BackgroundConsumer({ ...p.env, METRICS_PORT: String(port) });
    await waitUntil('the consumer to drain the topic', () => drained(p));
    // Unauthenticated, so on loopback only unless METRICS_HOST says otherwise: the kernel's listening
    // sockets show the port bound to 127.0.0.1 and to no other address.
    const listening = spawnSync('ss', ['-Hltn'])
      .stdout.toString()
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[3])
      .filter((a) => a?.endsWith(`:${port}`));
    expect(listening).toEqual([`127.0.0.1:${port}`]);

    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    // The lag gauge is the progress watch's, which reads the group's offsets and the partitions' ends on
    // its own schedule: once the group has committed everything, it shows 0 at its next poll. Read before
    // that poll (a busy host), it still showed the lag of the poll before.
    const caughtUp = Array.from({ length: p.config.topicPartitions }, (_, i) => `redeem_consumer_lag{partition="${i}"} 0`);
    const lagLines = (text: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith('redeem_consumer_lag{'))
        .sort();
    let body = '';
    await waitUntil(
      'the lag gauge to show every partition caught up',
      async () => {
        body = await (await fetch(`${base}/metrics`)).text();
        return JSON.stringify(lagLines(body)) === JSON.stringify(caughtUp);
      },
      30_000,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; last read: ${JSON.stringify(lagLines(body))}`);
    });

    const samples = body.split('\n').filter((l) => l && !l.startsWith('#'));
    const value = (series: string) => Number(samples.find((l) => l.startsWith(`${series} `))?.split(' ')[1]);
    expect(value('redeem_messages_total')).toBe(requests.length);
    const decided = samples.filter((l) => l.startsWith('redeem_decisions_total{')).reduce((sum, l) => sum + Number(l.split(' ')[1]), 0);
    expect(decided).toBe(requests.length);
    const audit = await p.auditRecords(requests.length);
    const exhausted = audit.filter((r) => r.reason === 'EXHAUSTED').length;
    expect(exhausted).toBeGreaterThan(0);
    expect(value('redeem_decisions_total{decision="REJECTED",reason="EXHAUSTED"}')).toBe(exhausted);
    expect(value('redeem_end_to_end_latency_seconds_count')).toBe(requests.length);
    // Its buckets as Prometheus reads them: cumulative, the last finite one and +Inf holding every request.
    expect(body).toContain('# TYPE redeem_end_to_end_latency_seconds histogram');
    const buckets = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30', '60', '+Inf'].map((le) =>
      value(`redeem_end_to_end_latency_seconds_bucket{le="${le}"}`),
    );
    expect(buckets.every((n, i) => Number.isInteger(n) && (i === 0 || n >= buckets[i - 1]!))).toBe(true);
    expect(buckets.at(-1)).toBe(requests.length);
    expect(value('redeem_end_to_end_latency_seconds_sum')).toBeGreaterThan(0);
    // The messages came in fetches, each counted when its answer arrived.
    expect(value('redeem_fetches_total')).toBeGreaterThanOrEqual(1);
    // Every partition of the topic polled, each caught up.
    expect(lagLines(body)).toEqual(caughtUp);

    // The member's pauses: its event loop's delay by quantile, and GC time by kind.
    for (const q of ['0.5', '0.99', '1']) expect(value(`redeem_event_loop_delay_seconds{quantile="${q}"}`)).toBeGreaterThanOrEqual(0);
    expect(body).toMatch(/^redeem_gc_pause_seconds_total\{kind="(minor|major|incremental|weakcb)"\} /m);

    // Cardinality: only bounded label names, and no value that names a coupon, user or request.
    const identities = new Set(requests.flatMap((r) => [r.coupon_code, r.user_id, r.request_id, r.order_id]));
    const seriesPerMetric = new Map<string, number>();
    for (const line of samples) {
      const match = /^([a-z_]+)(?:\{(.*)\})? /.exec(line);
      expect(match, line).not.toBeNull();
      const [, metric, labels] = match!;
      seriesPerMetric.set(metric!, (seriesPerMetric.get(metric!) ?? 0) + 1);
      for (const [, name, labelValue] of (labels ?? '').matchAll(/(\w+)="([^"]*)"/g)) {
        expect(ALLOWED_LABELS.has(name!), `label ${name} on ${metric}`).toBe(true);
        expect(identities.has(labelValue!), `${metric} labelled with ${labelValue}`).toBe(false);
      }
    }
    for (const [metric, series] of seriesPerMetric) {
      if (metric.startsWith('redeem_')) expect(series, metric).toBeLessThanOrEqual(30);
    }
    expect(await consumer.stop()).toBe(0);
  });
});
