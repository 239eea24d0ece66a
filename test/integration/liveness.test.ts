import { writeFileSync } from 'node:fs';

import type { KafkaMessage, Message, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { deadLetterTopic } from '../../lib/config.js';
import { couponCodes } from '../../lib/coupon-catalog.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import type { Codec } from '../../schemas/registry.js';
import type { RedemptionDecided, RedemptionRequested } from '../../schemas/types.js';
import { writeTemp } from './fixtures.js';
import { BackgroundConsumer, exactProducer, IsolatedPipeline, verifyEqual, waitUntil } from './helpers.js';

/**
 * Regression tests for the liveness issue: each hostile record that once stalled the pipeline for good
 * is produced with a plain KafkaJS producer (not the project's validating one), good requests follow
 * it, and the good ones must be decided (verify equal) while the hostile one lands in the dead-letter
 * topic with its reason.
 */

const NOW = new Date('2026-11-24T12:00:00Z');

function good(id: string, coupon: string, extra: Partial<RedemptionRequested> = {}): RedemptionRequested {
  return {
    request_id: id,
    coupon_code: coupon,
    user_id: `u-${id}`,
    order_id: `o-${id}`,
    op: 'REDEEM',
    reverses_request_id: null,
    amount_cents: 500,
    currency: 'EUR',
    occurred_at: NOW,
    source: 'test',
    ...extra,
  };
}

interface Hostile {
  name: string;
  key: string;
  value: Buffer;
  code: string;
  reason: RegExp;
}

/** Every hostile record of the findings 1-4 and 6, encoded as a careless or hostile client would. */
async function hostileRecords(p: IsolatedPipeline, codec: Codec<RedemptionRequested>, coupon: string): Promise<Hostile[]> {
  const audit = await p.rt.registry().codecFor<RedemptionDecided>('decided', p.config.auditTopic);
  const wireHeader = codec.encode(good('h', coupon)).subarray(0, 5);
  const foreign: RedemptionDecided = {
    request_id: 'foreign',
    coupon_code: coupon,
    op: 'REDEEM',
    decision: 'APPLIED',
    reason: null,
    remaining_quota: 1,
    source_partition: 0,
    source_offset: 0,
    decided_at: NOW,
    consumer_id: 'someone',
  };
  return [
    {
      name: '1: a registered schema that is not a request',
      key: coupon,
      value: audit.encode(foreign),
      code: 'MESSAGE_UNDECODABLE',
      reason: /schema id \d+ \(.*RedemptionDecided\) cannot be read as/,
    },
    {
      name: '2: a ~1 MB value',
      key: coupon,
      value: Buffer.concat([wireHeader, Buffer.alloc(1_000_000, 0x41)]),
      code: 'MESSAGE_TOO_LARGE',
      reason: /over MAX_MESSAGE_BYTES/,
    },
    {
      name: '2: a 600 KB value',
      key: coupon,
      value: Buffer.concat([wireHeader, Buffer.alloc(600_000, 0x42)]),
      code: 'MESSAGE_TOO_LARGE',
      reason: /over MAX_MESSAGE_BYTES/,
    },
    {
      name: '2: another 600 KB value',
      key: coupon,
      value: Buffer.concat([wireHeader, Buffer.alloc(600_000, 0x43)]),
      code: 'MESSAGE_TOO_LARGE',
      reason: /over MAX_MESSAGE_BYTES/,
    },
    {
      name: '3: a REVERSE dated in microseconds (year 56867)',
      key: coupon,
      value: codec.encode(good('micro', coupon, { op: 'REVERSE', reverses_request_id: 'g-0', occurred_at: new Date(NOW.getTime() * 1000) })),
      code: 'REQUEST_INVALID',
      reason: /occurred_at must lie within 1970-01-01/,
    },
    {
      name: '4: NUL in the coupon code',
      key: `${coupon}\u0000r1`,
      value: codec.encode(good('x', `${coupon}\u0000r1`)),
      code: 'REQUEST_INVALID',
      reason: /coupon_code must not contain control characters/,
    },
    {
      name: '4: NUL in the request id',
      key: coupon,
      value: codec.encode(good('r1\u0000x', coupon)),
      code: 'REQUEST_INVALID',
      reason: /request_id must not contain control characters/,
    },
    {
      name: '6: year 0000',
      key: coupon,
      value: codec.encode(good('year0', coupon, { occurred_at: new Date('0000-01-01T00:00:00Z') })),
      code: 'REQUEST_INVALID',
      reason: /occurred_at must lie within/,
    },
    {
      name: '6: a negative epoch',
      key: coupon,
      value: codec.encode(good('negative', coupon, { occurred_at: new Date(-8.64e15) })),
      code: 'REQUEST_INVALID',
      reason: /occurred_at must lie within/,
    },
  ];
}

/** Sends messages in order, each large one in a produce call of its own (a call must fit the broker's limit). */
async function sendInOrder(producer: Producer, topic: string, messages: readonly Message[]): Promise<void> {
  let pending: Message[] = [];
  const flush = async () => {
    if (pending.length > 0) await producer.send({ topic, acks: -1, messages: pending });
    pending = [];
  };
  for (const message of messages) {
    if ((message.value as Buffer).length > 100_000) {
      await flush();
      await producer.send({ topic, acks: -1, messages: [message] });
    } else {
      pending.push(message);
      if (pending.length >= 500) await flush();
    }
  }
  await flush();
}

function header(m: KafkaMessage, name: string): string | undefined {
  return m.headers?.[name]?.toString();
}

describe('nothing stalls the pipeline: one record, one fate', () => {
  const p = new IsolatedPipeline();
  let codec: Codec<RedemptionRequested>;
  let producer: Producer;
  beforeAll(async () => {
    await p.setUp();
    expect((await p.cli(['coupons', 'generate', '--count', '40', '--prefix', 'LIV', '--quota', '100000', '--per-user-limit', '1000'])).code).toBe(0);
    codec = await p.rt.registry().codecFor<RedemptionRequested>('requested', p.config.redemptionTopic);
    producer = exactProducer(p.rt.kafka());
    await producer.connect();
  });
  afterAll(async () => {
    await producer.disconnect();
    await p.cleanup();
  });

  let deadSoFar = 0;
  let goodSoFar = 0;

  /** Produces the hostile records then good ones for the same and other coupons; consumes; checks every fate. */
  async function hostileThenGood(finding: string, tag: string): Promise<void> {
    const coupon = `LIV-00000${1 + (goodSoFar % 9)}`;
    const hostile = (await hostileRecords(p, codec, coupon)).filter((h) => h.name.startsWith(`${finding}:`));
    expect(hostile.length).toBeGreaterThan(0);
    const goods = [good(`${tag}-1`, coupon), good(`${tag}-2`, 'LIV-000020'), good(`${tag}-3`, coupon)];
    await sendInOrder(producer, p.config.redemptionTopic, [
      ...hostile.map(({ key, value }) => ({ key, value })),
      ...goods.map((g) => ({ key: g.coupon_code, value: codec.encode(g) })),
    ]);

    const consumed = await p.cli(['consume', '--exit-when-idle', '1']);
    expect(consumed.code, consumed.stderr).toBe(0);
    goodSoFar += goods.length;
    deadSoFar += hostile.length;

    const redemptions = (await p.rt
      .knex()('redemptions')
      .whereIn(
        'request_id',
        goods.map((g) => g.request_id),
      )
      .select('request_id')) as { request_id: string }[];
    expect(redemptions.map((r) => r.request_id).sort()).toEqual(goods.map((g) => g.request_id).sort());
    const dead = await p.readTopic(deadLetterTopic(p.config.redemptionTopic), deadSoFar);
    expect(dead).toHaveLength(deadSoFar);
    for (const h of hostile) {
      const match = dead.find((m) => header(m, 'dlq.code') === h.code && h.reason.test(header(m, 'dlq.reason') ?? ''));
      expect(match, `a ${h.code} dead letter for ${h.name}`).toBeDefined();
    }
    const verified = await verifyEqual(p);
    expect(verified.equal, verified.report).toBe(true);
  }

  it('finding 1: a record whose schema id names another registered schema is dead-lettered, not retried forever', () => hostileThenGood('1', 'f1'));

  it('finding 2: oversized values are dead-lettered as truncated copies that fit the broker', async () => {
    await hostileThenGood('2', 'f2');
    const dead = await p.readTopic(deadLetterTopic(p.config.redemptionTopic), deadSoFar);
    const large = dead.filter((m) => header(m, 'dlq.code') === 'MESSAGE_TOO_LARGE');
    expect(large.map((m) => header(m, 'dlq.original-bytes')).sort()).toEqual(['1000005', '600005', '600005']);
    for (const m of large) {
      expect(header(m, 'dlq.truncated')).toBe('true');
      expect(m.value!.length).toBeLessThanOrEqual(1024);
    }
  });

  it('finding 3: a REVERSE dated past what MySQL stores is dead-lettered and the rest of its flush is applied', () => hostileThenGood('3', 'f3'));

  it('finding 4: control characters in ids are refused, so ids can never join into another pair', () => hostileThenGood('4', 'f4'));

  it('finding 6: times that would be changed on the way are dead-lettered', () => hostileThenGood('6', 'f6'));

  it('finding 6: the CLI refuses a time without a zone, a day that does not exist and a CSV that is not UTF-8, naming the line', async () => {
    const line = (occurred_at: string) => JSON.stringify({ ...good('cli', 'LIV-000001'), occurred_at });
    for (const [occurred, problem] of [
      ['2026-11-24T10:00:00', /line 2: .*occurred_at must be an ISO-8601 time with a zone/],
      ['2026-02-31T10:00:00Z', /line 2: .*occurred_at names a day that does not exist/],
    ] as const) {
      const file = writeTemp(`${line('2026-11-24T10:00:00Z')}\n${line(occurred)}\n`, 'liveness.jsonl');
      const result = await p.cli(['produce', '--file', file]);
      expect(result.code).not.toBe(0);
      expect(result.stderr + result.stdout).toMatch(problem);
    }
    const csv = Buffer.concat([
      Buffer.from('code,campaign_id,quota,per_user_limit,valid_from,valid_until\nLAT-1,caf'),
      Buffer.from([0xe9]),
      Buffer.from(',10,1,2026-01-01T00:00:00Z,2027-01-01T00:00:00Z\n'),
    ]);
    const csvFile = writeTemp('', 'latin1.csv');
    writeFileSync(csvFile, csv);
    const imported = await p.cli(['coupons', 'import', csvFile]);
    expect(imported.code).not.toBe(0);
    expect(imported.stderr).toMatch(/not valid UTF-8: line 2/);
  });

  it('finding 5: a consumer that crashes on an error KafkaJS does not restart from exits non-zero, naming it', async () => {
    // A storage failure no retry can cure (the decisions table is gone) stops the member for good.
    await p.rt.knex().raw('RENAME TABLE decisions TO decisions_away');
    try {
      const request = good('f5-1', 'LIV-000005');
      await producer.send({ topic: p.config.redemptionTopic, acks: -1, messages: [{ key: request.coupon_code, value: codec.encode(request) }] });
      const crashed = await p.cli(['consume', '--exit-when-idle', '60']);
      expect(crashed.code).toBe(1);
      expect(crashed.stderr).toMatch(/CONSUMER_FAILED: the consumer stopped on an error it cannot recover from: .*decisions.*doesn't exist/);
    } finally {
      await p.rt.knex().raw('RENAME TABLE decisions_away TO decisions');
    }
    const resumed = await p.cli(['consume', '--exit-when-idle', '1']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await p.rt.knex()('redemptions').where({ request_id: 'f5-1' }).first()).toBeDefined();
    goodSoFar += 1;
    const verified = await verifyEqual(p);
    expect(verified.equal, verified.report).toBe(true);
  });
});

describe('a flush MySQL refuses for one row commits every other row', () => {
  const p = new IsolatedPipeline();
  beforeAll(async () => {
    await p.setUp();
    expect((await p.cli(['coupons', 'generate', '--count', '3', '--prefix', 'BIS', '--quota', '1000', '--per-user-limit', '1000'])).code).toBe(0);
  });
  afterAll(() => p.cleanup());

  it('splits the flush, dead-letters the refused request as STORAGE_REFUSED and applies the rest', async () => {
    // A row MySQL refuses for its data although it passes validation, as a stricter server or a
    // constraint added later would: a trigger stands in for that refusal.
    await p.rt
      .knex()
      .raw(
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON redemptions FOR EACH ROW BEGIN IF NEW.order_id = 'poison' THEN SIGNAL SQLSTATE '22003' SET MESSAGE_TEXT = 'poison order refused'; END IF; END",
      );
    const requests: RedemptionRequested[] = [];
    for (let i = 0; i < 60; i++) requests.push(good(`b${i}`, `BIS-00000${1 + (i % 3)}`, i === 37 ? { order_id: 'poison' } : {}));
    await p.produce(requests);
    const consumed = await p.cli(['consume', '--exit-when-idle', '1'], { LOG_LEVEL: 'warn' });
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stderr).toMatch(/splitting it to find the request/);

    const applied = (await p.rt.knex()('redemptions').select('request_id')) as { request_id: string }[];
    expect(applied.map((r) => r.request_id).sort()).toEqual(
      requests
        .filter((r) => r.order_id !== 'poison')
        .map((r) => r.request_id)
        .sort(),
    );
    const dead = await p.readTopic(deadLetterTopic(p.config.redemptionTopic), 1);
    expect(dead).toHaveLength(1);
    expect(header(dead[0]!, 'dlq.code')).toBe('STORAGE_REFUSED');
    expect(header(dead[0]!, 'dlq.reason')).toMatch(/poison order refused/);
    const audit = await p.auditRecords(59);
    expect(audit).toHaveLength(59);
    expect(audit.every((r) => r.decision === 'APPLIED')).toBe(true);
  });
});

describe('a mix of 10,000 good requests and every hostile record, in any order', () => {
  const p = new IsolatedPipeline();
  beforeAll(async () => {
    await p.setUp();
    expect((await p.cli(['coupons', 'generate', '--count', '200', '--prefix', 'MIX', '--quota', '60'])).code).toBe(0);
  });
  afterAll(() => p.cleanup());

  it('decides every good one (verify equal) and dead-letters exactly the hostile ones', async () => {
    const codec = await p.rt.registry().codecFor<RedemptionRequested>('requested', p.config.redemptionTopic);
    const goods = [...simulateCheckout({ ...DEFAULT_SIMULATION, count: 10_000, couponCodes: couponCodes('MIX', 220), users: 400, seed: 8 })];
    const hostile = await hostileRecords(p, codec, 'MIX-000007');
    // Hostile records at seeded random places among the good ones (whose own order is kept).
    const messages: Message[] = goods.map((g) => ({ key: g.coupon_code, value: codec.encode(g) }));
    let seed = 12345;
    for (const h of hostile) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      messages.splice(seed % (messages.length + 1), 0, { key: h.key, value: h.value });
    }
    const producer = exactProducer(p.rt.kafka());
    await producer.connect();
    try {
      await sendInOrder(producer, p.config.redemptionTopic, messages);
    } finally {
      await producer.disconnect();
    }

    const consumed = await p.cli(['consume', '--exit-when-idle', '5']);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stdout).toContain(`dead letters ${hostile.length}`);
    const dead = await p.readTopic(deadLetterTopic(p.config.redemptionTopic), hostile.length);
    expect(dead.map((m) => header(m, 'dlq.code')).sort()).toEqual(hostile.map((h) => h.code).sort());
    const verified = await verifyEqual(p);
    expect(verified.equal, verified.report).toBe(true);
    expect(verified.report).toContain(`${goods.length} requests`);
  });
});

describe('a stalled consumer says so', () => {
  const p = new IsolatedPipeline({ STALL_THRESHOLD_SECONDS: '4', MYSQL_LOCK_WAIT_TIMEOUT_SECONDS: '1', LOG_LEVEL: 'info' });
  let consumer: BackgroundConsumer | undefined;
  beforeAll(async () => {
    await p.setUp();
    expect((await p.cli(['coupons', 'generate', '--count', '1', '--prefix', 'STL', '--quota', '1000', '--per-user-limit', '1000'])).code).toBe(0);
  });
  afterAll(async () => {
    await consumer?.kill9();
    await p.cleanup();
  });

  it('turns /readyz 503 within the stall threshold while MySQL refuses every write, and ready again after', async () => {
    consumer = new BackgroundConsumer(p.env);
    await waitUntil('the consumer to serve its endpoints', async () => /"port":\d+,"msg":"serving \/metrics/.test(consumer!.stderr), 60_000);
    const port = Number(/"port":(\d+),"msg":"serving \/metrics/.exec(consumer.stderr)![1]);
    const readyz = async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
    await p.produce([good('s1', 'STL-000001')]);
    await waitUntil(
      'the first request to be applied',
      async () => (await p.rt.knex()('redemptions').where({ request_id: 's1' }).first()) !== undefined,
      60_000,
    );
    await waitUntil('the member to be ready', async () => (await readyz()) === 200, 30_000);

    // Every write now waits on a row lock held elsewhere and fails after 1 s, again and again.
    const blocker = await p.rt.knex().transaction();
    try {
      await blocker('coupons').where({ code: 'STL-000001' }).forUpdate();
      const producedAt = Date.now();
      await p.produce([good('s2', 'STL-000001')]);
      await waitUntil('/readyz to answer 503', async () => (await readyz()) === 503, 20_000);
      const secondsToUnready = (Date.now() - producedAt) / 1000;
      expect(secondsToUnready).toBeLessThanOrEqual(4 + 3);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const lag = metrics
        .split('\n')
        .filter((l) => l.startsWith('redeem_consumer_lag{'))
        .reduce((sum, l) => sum + Number(l.split(' ')[1]), 0);
      expect(lag).toBe(1);
      const lastProgress = Number(/^redeem_last_progress_timestamp_seconds (\S+)$/m.exec(metrics)?.[1]);
      expect(Date.now() / 1000 - lastProgress).toBeGreaterThan(4);
      expect(consumer.stderr).toMatch(/stalled: partitions have lag/);
    } finally {
      await blocker.rollback();
    }
    await waitUntil('the member to be ready again', async () => (await readyz()) === 200, 30_000);
    expect(await p.rt.knex()('redemptions').where({ request_id: 's2' }).first()).toBeDefined();
    expect(await consumer.stop()).toBe(0);
    const verified = await verifyEqual(p);
    expect(verified.equal, verified.report).toBe(true);
  });
});
