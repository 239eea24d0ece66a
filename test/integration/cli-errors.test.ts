import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { InputError } from '../../lib/errors.js';
import type { RedemptionRequested } from '../../schemas/types.js';
import { couponsCsv, mixedCoupons, writeTemp } from './fixtures.js';
import { IsolatedPipeline, runCli } from './helpers.js';

describe('bad configuration and bad input are refused with clear errors, losing nothing', () => {
  const p = new IsolatedPipeline();
  beforeAll(() => p.setUp());
  afterAll(() => p.cleanup());

  it('stops at start on bad settings, naming each one', async () => {
    const result = await runCli(['consume', '--exit-when-idle', '1'], {
      KAFKA_BROKERS: 'broker-without-port',
      FLUSH_MAX_MESSAGES: 'lots',
      REDIS_URL: 'http://127.0.0.1:6379',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('KAFKA_BROKERS: "broker-without-port" is not host:port');
    expect(result.stderr).toContain('FLUSH_MAX_MESSAGES: must be a whole number, got "lots"');
    expect(result.stderr).toContain('REDIS_URL: must use redis or rediss');
  });

  it('a CSV with bad rows reports them by line and loads nothing', async () => {
    const good = couponsCsv(mixedCoupons(2)).split('\n');
    const bad = [
      ...good.slice(0, 3),
      'BROKEN,c,ten,1,2026-01-01T00:00:00Z,2026-02-01T00:00:00Z',
      ...good.slice(3),
      'LATE,c,1,1,2026-01-01,2026-02-01T00:00:00Z',
    ];
    const result = await p.cli(['coupons', 'import', writeTemp(bad.join('\n'), 'bad.csv')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('line 4: quota must be a whole number, got "ten"');
    expect(result.stderr).toMatch(/line 10: valid_from must be an ISO-8601 time/);
    const [{ n }] = (await p.rt.knex()('coupons').count({ n: '*' })) as [{ n: number }];
    expect(Number(n)).toBe(0);
  });

  it('a requests file with bad lines reports them by number and sends nothing', async () => {
    const lines = [
      JSON.stringify({
        request_id: 'a',
        coupon_code: 'C',
        user_id: 'u',
        order_id: 'o',
        op: 'REDEEM',
        amount_cents: 1,
        currency: 'EUR',
        occurred_at: '2026-11-24T00:00:00Z',
        source: 's',
      }),
      '{oops',
      JSON.stringify({
        request_id: 'b',
        coupon_code: 'C',
        user_id: 'u',
        order_id: 'o',
        op: 'REVERSE',
        amount_cents: 1,
        currency: 'EUR',
        occurred_at: 1795550742554,
        source: 's',
      }),
    ];
    const result = await p.cli(['produce', '--file', writeTemp(lines.join('\n'), 'bad.jsonl'), '--no-progress']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('2 bad line(s), nothing sent');
    expect(result.stderr).toMatch(/line 2: not JSON/);
    expect(result.stderr).toContain('line 3: a REVERSE needs reverses_request_id');
    expect([...(await p.endOffsets(p.config.redemptionTopic)).values()].every((end) => end === 0)).toBe(true);
  });

  it('the producer library refuses an invalid request before sending anything', async () => {
    const producer = await p.producer();
    const bad: RedemptionRequested = {
      request_id: 'x',
      coupon_code: 'C',
      user_id: 'u',
      order_id: 'o',
      op: 'REDEEM',
      reverses_request_id: null,
      amount_cents: -1,
      currency: 'EUR',
      occurred_at: new Date(),
      source: 's',
    };
    const good: RedemptionRequested = { ...bad, request_id: 'y', amount_cents: 1 };
    const error = await producer.sendAll([good, bad]).catch((e: unknown) => e);
    await producer.disconnect();
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toBe('request 2 (x) is invalid: amount_cents must be a whole number >= 0, got -1');
    expect([...(await p.endOffsets(p.config.redemptionTopic)).values()].every((end) => end === 0)).toBe(true);
  });

  it('stack status shows all four services answering', async () => {
    const result = await runCli(['stack', 'status'], {});
    expect(result.code, result.stdout).toBe(0);
    for (const component of ['kafka', 'registry', 'redis', 'mysql'])
      expect(result.stdout).toMatch(new RegExp(`^${component}\\s+127\\.0\\.0\\.1:\\d+\\s+up`, 'm'));
  });
});
