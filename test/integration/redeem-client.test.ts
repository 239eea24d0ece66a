import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// The package's own name, as an upstream checkout imports it (tsconfig paths map it to index.ts here).
import { DecisionTimeoutError, RedemptionClient, type RedemptionRequested, TopicMissingError } from 'coupon-redemption-pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { upsertCoupons } from '../../lib/coupon-catalog.js';
import { decisionCoupons, request, T0, writeJsonLines } from './fixtures.js';
import { BackgroundConsumer, IsolatedPipeline } from './helpers.js';

/**
 * `redeem()` against the real pipeline: the client sends, its audit reader answers with the decision of
 * the very message it sent. Every decision and reason, a retry answered with the original outcome, and
 * the timeouts.
 */

// Debian's python3-confluent-kafka and python3-avro live in the system interpreter (see python-clients.test.ts).
const PYTHON = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const EXAMPLES = fileURLToPath(new URL('../../examples/python/', import.meta.url));

describe('RedemptionClient.redeem(): the checkout gets its answer', () => {
  const p = new IsolatedPipeline();
  let client: RedemptionClient;
  let consumer: BackgroundConsumer | null = null;

  beforeAll(async () => {
    await p.setUp();
    await upsertCoupons(p.rt.knex(), decisionCoupons());
    client = await RedemptionClient.create({
      brokers: p.config.kafkaBrokers,
      schemaRegistryUrl: p.config.schemaRegistryUrl,
      topic: p.config.redemptionTopic,
      auditTopic: p.config.auditTopic,
      clientId: 'redeem-test',
    });
  }, 60_000);

  afterAll(async () => {
    await client?.disconnect();
    if (consumer) await consumer.stop();
    await p.cleanup();
  });

  const checkout = (id: string, coupon: string, extra: Partial<RedemptionRequested> = {}) => request(id, coupon, 'u1', 10, { order_id: `o-${id}`, ...extra });

  it('a decision not in time rejects with DECISION_TIMEOUT, saying the request is in Kafka and will still be decided', async () => {
    // No consumer yet: nothing decides.
    const error = await client.redeem(checkout('late', 'OK', { user_id: 'late-user' }), { timeoutMs: 1500 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DecisionTimeoutError);
    expect((error as DecisionTimeoutError).code).toBe('DECISION_TIMEOUT');
    expect((error as DecisionTimeoutError).acknowledged).toBe(true);
    expect((error as Error).message).toMatch(/the request is in Kafka and will still be decided/);
    expect((error as Error).message).toMatch(/redeem decision OK late/);
  });

  it('answers every decision: applied, each rejection reason, and a retry with its original outcome', async () => {
    consumer = new BackgroundConsumer(p.env);
    const timeoutMs = 30_000;
    // The request that timed out, redeemed again once the pipeline runs: its original outcome, a retry.
    const again = await client.redeem(checkout('late', 'OK', { user_id: 'late-user' }), { timeoutMs });
    expect(again).toMatchObject({ decision: 'APPLIED', reason: null, retry: true });
    expect(again.record).toMatchObject({
      decision: 'DUPLICATE',
      original_decision: 'APPLIED',
      request_id: 'late',
      campaign_id: 'spring',
      user_id: 'late-user',
    });

    // Concurrent checkouts, one reader serving them all.
    const [applied, exhausted, expired, notYet, unknown, notRedeemed] = await Promise.all([
      client.redeem(checkout('a1', 'ONE', { user_id: 'u-a' }), { timeoutMs }),
      client.redeem(checkout('a2', 'ONE', { user_id: 'u-b', occurred_at: new Date(T0.getTime() + 20) }), { timeoutMs }),
      client.redeem(checkout('e1', 'OLD'), { timeoutMs }),
      client.redeem(checkout('n1', 'NEW'), { timeoutMs }),
      client.redeem(checkout('x1', 'NOPE'), { timeoutMs }),
      client.redeem(checkout('r1', 'OK', { op: 'REVERSE', reverses_request_id: 'never' }), { timeoutMs }),
    ]);
    expect(applied).toMatchObject({ decision: 'APPLIED', reason: null, retry: false });
    expect(applied.record).toMatchObject({ request_id: 'a1', remaining_quota: 0, user_id: 'u-a', order_id: 'o-a1', amount_cents: 1000, currency: 'EUR' });
    expect(exhausted).toMatchObject({ decision: 'REJECTED', reason: 'EXHAUSTED', retry: false });
    expect(expired).toMatchObject({ decision: 'REJECTED', reason: 'EXPIRED' });
    expect(notYet).toMatchObject({ decision: 'REJECTED', reason: 'NOT_YET_VALID' });
    expect(unknown).toMatchObject({ decision: 'REJECTED', reason: 'NOT_FOUND' });
    expect(unknown.record.campaign_id).toBeNull();
    expect(notRedeemed).toMatchObject({ decision: 'REJECTED', reason: 'NOT_REDEEMED' });

    const [limited, first] = await Promise.all([
      client.redeem(checkout('l2', 'OK', { user_id: 'late-user' }), { timeoutMs }),
      client.redeem(checkout('a1', 'ONE', { user_id: 'u-a' }), { timeoutMs }),
    ]);
    expect(limited).toMatchObject({ decision: 'REJECTED', reason: 'USER_LIMIT', retry: false });
    // An upstream retry of an applied request: the coupon is on that order, and this is a retry.
    expect(first).toMatchObject({ decision: 'APPLIED', retry: true });
    // ... and of a rejected one: the original reason.
    expect(await client.redeem(checkout('a2', 'ONE', { user_id: 'u-b' }), { timeoutMs })).toMatchObject({
      decision: 'REJECTED',
      reason: 'EXHAUSTED',
      retry: true,
    });
  }, 120_000);

  it('redeem decision prints the stored decision; audit tail --request-id prints only that request id', async () => {
    const stored = await p.cli(['decision', 'ONE', 'a2']);
    expect(stored.code, stored.stderr).toBe(0);
    expect(JSON.parse(stored.stdout)).toMatchObject({ coupon_code: 'ONE', request_id: 'a2', decision: 'REJECTED', reason: 'EXHAUSTED' });
    const none = await p.cli(['decision', 'ONE', 'never-sent']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no decision stored for request never-sent of coupon ONE');

    // Only coupon ONE's partition of the audit topic is read; the request id alone does not name a request.
    const tail = await p.cli(['audit', 'tail', '--from-beginning', '--coupon', 'ONE', '--request-id', 'a1', '--exit-when-idle', '2']);
    expect(tail.code, tail.stderr).toBe(0);
    const lines = tail.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { request_id: string; decision: string; original_decision: string | null });
    expect(lines.map((l) => [l.request_id, l.decision, l.original_decision])).toEqual([
      ['a1', 'APPLIED', null],
      ['a1', 'DUPLICATE', 'APPLIED'],
    ]);
    const alone = await p.cli(['audit', 'tail', '--request-id', 'a1']);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('--request-id needs --coupon');
  });

  it('examples/python/redeem_and_wait.py: the same pattern in Python, a retry answered with the original outcome', async () => {
    const file = writeJsonLines([checkout('py-1', 'OK', { user_id: 'py-user' }), checkout('a2', 'ONE', { user_id: 'u-b' })], `redeem-py-${p.id}`);
    const run = spawnSync(PYTHON, [`${EXAMPLES}redeem_and_wait.py`, '--file', file, '--timeout', '60'], {
      env: {
        ...process.env,
        KAFKA_BROKERS: p.config.kafkaBrokers.join(','),
        SCHEMA_REGISTRY_URL: p.config.schemaRegistryUrl,
        REDEMPTION_TOPIC: p.config.redemptionTopic,
        AUDIT_TOPIC: p.config.auditTopic,
      },
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).toBe(0);
    const answers = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { request_id: string; decision: string; reason: string | null; retry: boolean });
    expect(answers.map((a) => [a.request_id, a.decision, a.reason, a.retry]).sort()).toEqual([
      ['a2', 'REJECTED', 'EXHAUSTED', true],
      ['py-1', 'APPLIED', null, false],
    ]);
  }, 90_000);

  it('a client for a topic that does not exist fails at once, naming it', async () => {
    const error = await RedemptionClient.create({
      brokers: p.config.kafkaBrokers,
      schemaRegistryUrl: p.config.schemaRegistryUrl,
      topic: `test-${p.id}.nowhere`,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TopicMissingError);
    expect((error as Error).message).toContain(`test-${p.id}.nowhere does not exist`);
  });
});
