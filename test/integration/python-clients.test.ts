import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { deadLetterTopic } from '../../lib/config.js';
import { upsertCoupons } from '../../lib/coupon-catalog.js';
import type { RedemptionDecided, RedemptionRequested } from '../../schemas/types.js';
import { ReferenceLedger } from '../../verify/reference-ledger.js';
import { mixedCoupons, mixedRequests, writeJsonLines } from './fixtures.js';
import { IsolatedPipeline, verifyEqual } from './helpers.js';

/**
 * The Python examples against the real broker and registry, with Debian's python3-confluent-kafka and
 * python3-avro (installed by .ci/run). Those packages live in the system interpreter's dist-packages,
 * so the test runs /usr/bin/python3 unless PYTHON names another one that has them.
 */
const PYTHON = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const EXAMPLES = fileURLToPath(new URL('../../examples/python/', import.meta.url));

function python(script: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [`${EXAMPLES}${script}`, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const SIM_COUPONS = 20;
const SIM_REQUESTS = 1500;

describe('Python clients (examples/python) beside the TypeScript producer', () => {
  const p = new IsolatedPipeline();
  const coupons = mixedCoupons(SIM_COUPONS);
  const all = mixedRequests(SIM_COUPONS, SIM_REQUESTS, 11);
  // Python sends the hand-made requests (every rule) and the first and last thirds of the simulated
  // burst; TypeScript sends the middle third. The same coupons run through all three parts, so per-coupon
  // order holds only if both producers put a coupon in the same partition.
  const third = Math.floor((all.length - 22) / 3);
  const asPython = (rs: RedemptionRequested[]) => rs.map((r) => ({ ...r, source: 'python-checkout' }));
  const partA = asPython(all.slice(0, 22 + third));
  const partB = all.slice(22 + third, 22 + 2 * third).map((r) => ({ ...r, source: 'ts-checkout' }));
  const partC = asPython(all.slice(22 + 2 * third));
  const requests = [...partA, ...partB, ...partC];
  const reference = new ReferenceLedger(coupons);
  for (const r of requests) reference.apply(r);
  const pyEnv = () => ({
    KAFKA_BROKERS: p.config.kafkaBrokers.join(','),
    SCHEMA_REGISTRY_URL: p.config.schemaRegistryUrl,
    REDEMPTION_TOPIC: p.config.redemptionTopic,
    AUDIT_TOPIC: p.config.auditTopic,
  });

  beforeAll(async () => {
    await p.setUp();
    await upsertCoupons(
      p.rt.knex(),
      coupons.map((c) => ({ ...c, campaign_id: 'py' })),
    );
  });
  afterAll(() => p.cleanup());

  it('a Python-produced stream mixed with TS-produced requests for the same coupons is decided in order; verify equal', async () => {
    const first = await python('checkout_producer.py', ['--file', writeJsonLines(partA, 'py-a'), '--client-id', 'py-checkout-test'], pyEnv());
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`produced ${partA.length} requests`);
    await p.produce(partB);
    const last = await python('checkout_producer.py', ['--file', writeJsonLines(partC, 'py-c'), '--client-id', 'py-checkout-test'], pyEnv());
    expect(last.code, last.stderr).toBe(0);

    // Python registered (or found) the subject first; the TS producer found the same version.
    const versions = (await (await fetch(`${p.config.schemaRegistryUrl}/subjects/${p.config.redemptionTopic}-value/versions`)).json()) as number[];
    expect(versions).toEqual([1]);

    const consumed = await p.cli(['consume', '--exit-when-idle', '1']);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stdout).toContain(`decided      ${requests.length}`);
    expect(consumed.stdout).toContain('dead letters 0');
    expect(await p.endOffsets(deadLetterTopic(p.config.redemptionTopic))).toEqual(new Map([[0, 0]]));

    // MySQL holds what the reference rules give for the three parts in their order.
    const counts = new Map(
      ((await p.rt.knex()('coupons').select('code', 'redeemed_count')) as { code: string; redeemed_count: number }[]).map((c) => [c.code, c.redeemed_count]),
    );
    for (const [code, expected] of reference.counts) expect(counts.get(code), code).toBe(expected);
    const rows = (await p.rt.knex()('redemptions').select('coupon_code', 'request_id', 'status')) as {
      coupon_code: string;
      request_id: string;
      status: string;
    }[];
    const actualRows = new Map(rows.map((r) => [`${r.coupon_code}/${r.request_id}`, r.status]));
    // Keyed by the rows' own fields: the reference ledger's map keys are its own business.
    const expectedRows = new Map([...reference.redemptions.values()].map((r) => [`${r.coupon_code}/${r.request_id}`, r.status]));
    expect(actualRows).toEqual(expectedRows);
    const verified = await verifyEqual(p);
    expect(verified.equal, verified.report).toBe(true);

    // Every decision and reject reason came out of the Python-produced requests.
    const audit = await p.auditRecords(requests.length);
    const fromPython = new Set(partA.concat(partC).map((r) => r.request_id));
    const outcomes = new Set(audit.filter((r) => fromPython.has(r.request_id)).map((r) => r.reason ?? r.decision));
    for (const outcome of ['APPLIED', 'DUPLICATE', 'NOT_FOUND', 'NOT_YET_VALID', 'EXPIRED', 'EXHAUSTED', 'USER_LIMIT', 'NOT_REDEEMED'])
      expect(outcomes).toContain(outcome);
    // Per-coupon order across the two producers: the reference's sequence per coupon, in partition order.
    const sequence = (records: readonly { coupon_code: string; request_id: string; decision: string; reason: string | null }[]) => {
      const out = new Map<string, string[]>();
      for (const r of records) out.set(r.coupon_code, [...(out.get(r.coupon_code) ?? []), `${r.request_id}:${r.decision}:${r.reason}`]);
      return out;
    };
    const inPartitionOrder = [...audit].sort((a, b) => a.source_partition - b.source_partition || a.source_offset - b.source_offset);
    expect(sequence(inPartitionOrder)).toEqual(sequence(reference.decisions));
  });

  it('batches librdkafka compressed with gzip, snappy, lz4 and zstd are decided like any other', async () => {
    const q = new IsolatedPipeline();
    await q.setUp();
    try {
      await upsertCoupons(
        q.rt.knex(),
        coupons.map((c) => ({ ...c, campaign_id: 'py' })),
      );
      const env = { ...pyEnv(), REDEMPTION_TOPIC: q.config.redemptionTopic, AUDIT_TOPIC: q.config.auditTopic };
      const codecs = ['gzip', 'snappy', 'lz4', 'zstd'];
      const share = Math.ceil(requests.length / codecs.length);
      for (const [i, codec] of codecs.entries()) {
        const part = requests.slice(i * share, (i + 1) * share);
        const sent = await python('checkout_producer.py', ['--file', writeJsonLines(part, `py-${codec}`), '--compression', codec], env);
        expect(sent.code, sent.stderr).toBe(0);
      }
      const consumed = await q.cli(['consume', '--exit-when-idle', '1', '--max-wait', '60']);
      expect(consumed.code, consumed.stderr).toBe(0);
      expect(consumed.stdout).toContain(`decided      ${requests.length}`);
      expect(consumed.stdout).toContain('dead letters 0');
      const verified = await verifyEqual(q);
      expect(verified.equal, verified.report).toBe(true);
    } finally {
      await q.cleanup();
    }
  });

  it('the Python audit reader reads every decision record, as the TypeScript decoder does', async () => {
    const read = await python('audit_reader.py', ['--group', `${p.config.consumerGroup}-py-analyst`, '--exit-when-idle', '5'], pyEnv());
    expect(read.code, read.stderr).toBe(0);
    const lines = read.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as RedemptionDecided & { key: string; decided_at: string });
    const audit = await p.auditRecords(requests.length);
    expect(lines).toHaveLength(audit.length);
    const summary = (r: {
      source_partition: number;
      source_offset: number;
      request_id: string;
      decision: string;
      reason: string | null;
      remaining_quota: number | null;
    }) => `${r.source_partition}/${r.source_offset} ${r.request_id} ${r.decision} ${r.reason} ${r.remaining_quota}`;
    expect(lines.map(summary).sort()).toEqual(audit.map(summary).sort());
    expect(lines.every((l) => l.key === l.coupon_code)).toBe(true);
    expect(lines.every((l) => /^\d{4}-\d\d-\d\dT/.test(l.decided_at))).toBe(true);
  });
});
