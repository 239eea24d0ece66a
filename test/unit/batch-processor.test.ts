import pino from 'pino';
import { describe, expect, it } from 'vitest';

import { BatchProcessor, type BatchProcessorDeps } from '../../consumers/batch-processor.js';
import { ConsumerStats } from '../../consumers/consumer-stats.js';
import type { DecisionCache } from '../../consumers/decision-cache.js';
import type { DecisionPublisher } from '../../consumers/decision-publisher.js';
import { auditRecordOf } from '../../consumers/decision-records.js';
import type { FlushResult, RedemptionStore } from '../../consumers/redemption-store.js';
import type { SourcedRequest, StoredDecision } from '../../consumers/types.js';
import { FaultInjector } from '../../lib/faults.js';
import type { RedemptionRequested } from '../../schemas/types.js';

/**
 * The end of a flush: once MySQL committed, the Redis update and the audit publish run at once, and the
 * flush (after which its offsets may be committed) is over only when both are. The collaborators are
 * plain in-memory objects that log what happens and when they are let go.
 */
const request: RedemptionRequested = {
  request_id: 'r1',
  coupon_code: 'C1',
  user_id: 'u1',
  order_id: 'o1',
  amount_cents: 100,
  currency: 'EUR',
  op: 'REDEEM',
  occurred_at: new Date(0),
} as RedemptionRequested;
const source: SourcedRequest = { request, topic: 't', partition: 0, offset: 5 };
const stored: StoredDecision = {
  couponCode: 'C1',
  requestId: 'r1',
  op: 'REDEEM',
  decision: 'APPLIED',
  reason: null,
  remainingQuota: 9,
  sourceTopic: 't',
  sourcePartition: 0,
  sourceOffset: 5,
  decidedAt: 1,
  consumerId: 'c',
};

/** A promise and the function that settles it. */
function gate(): { promise: Promise<void>; open: () => void; fail: (e: Error) => void } {
  let open!: () => void;
  let fail!: (e: Error) => void;
  const promise = new Promise<void>((resolve, reject) => ((open = resolve), (fail = reject)));
  return { promise, open, fail };
}

function processorWith(remember: Promise<void>, publish: Promise<void>, log: string[]): BatchProcessor {
  const flushed: FlushResult = { records: [auditRecordOf(stored, request)], reemitted: [false], committed: [stored], statements: 5 };
  const deps = {
    cache: {
      lookup: async () => ({ decisions: new Map(), redelivered: 0 }),
      remember: async () => {
        log.push('remember started');
        await remember;
        log.push('remember done');
      },
    } as unknown as DecisionCache,
    store: { flush: async () => (log.push('mysql committed'), flushed) } as unknown as RedemptionStore,
    publisher: {
      publish: async () => {
        log.push('publish started');
        await publish;
        log.push('publish done');
      },
    } as unknown as DecisionPublisher,
    stats: new ConsumerStats(),
    logger: pino({ level: 'silent' }),
    consumerId: 'c',
    maxMessageBytes: 1_000_000,
    faults: new FaultInjector({}),
    dryRun: false,
    publish: true,
    shouldStop: () => true,
  } as unknown as BatchProcessorDeps;
  return new BatchProcessor(deps);
}

const chunk = { topic: 't', partition: 0, messages: [], decoded: { requests: [source], deadLetters: [] } };
const settle = () => new Promise((r) => setTimeout(r, 10));

/** A flush under way whose Redis update and publish wait for their gates; `outcome` is how it ended, once it has. */
function startFlush() {
  const log: string[] = [];
  const redis = gate();
  const audit = gate();
  const outcome: { ended: boolean; failed: unknown } = { ended: false, failed: null };
  const flush = processorWith(redis.promise, audit.promise, log)
    .process([chunk])
    .then(
      () => (outcome.ended = true),
      (e: unknown) => (outcome.failed = e),
    );
  return { log, redis, audit, outcome, flush };
}

describe('a flush after its MySQL commit', () => {
  it('publishes the audit records while Redis is being updated, and ends only once both are done', async () => {
    const { log, redis, audit, outcome, flush } = startFlush();
    await settle();
    expect(log).toEqual(['mysql committed', 'remember started', 'publish started']);
    audit.open();
    await settle();
    expect(outcome.ended).toBe(false);
    redis.open();
    await flush;
    expect(outcome).toEqual({ ended: true, failed: null });
    expect(log.slice(-2)).toEqual(['publish done', 'remember done']);
  });

  it('fails when the publish fails, but only after the Redis update has settled', async () => {
    const { log, redis, audit, outcome, flush } = startFlush();
    await settle();
    audit.fail(Object.assign(new Error('the broker refused it'), { retriable: false }));
    await settle();
    expect(outcome.failed).toBeNull();
    redis.open();
    await flush;
    expect(String(outcome.failed)).toMatch(/the broker refused it/);
    expect(log).toContain('remember done');
  });

  it('fails when the Redis update throws, once the publish is done', async () => {
    const { log, redis, audit, outcome, flush } = startFlush();
    await settle();
    redis.fail(new Error('the cache update broke'));
    await settle();
    expect(outcome.failed).toBeNull();
    audit.open();
    await flush;
    expect(String(outcome.failed)).toMatch(/the cache update broke/);
    expect(log).toContain('publish done');
  });
});
