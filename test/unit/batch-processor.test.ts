import pino from 'pino';
import { describe, expect, it } from 'vitest';

import { BatchProcessor, type BatchProcessorDeps, type FlushOrder } from '../../consumers/batch-processor.js';
import { ConsumerStats } from '../../consumers/consumer-stats.js';
import type { DecisionCache } from '../../consumers/decision-cache.js';
import type { DecisionPublisher } from '../../consumers/decision-publisher.js';
import { auditRecordOf, decisionKey } from '../../consumers/decision-records.js';
import { EarlierFlushFailed } from '../../consumers/flush-coalescer.js';
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

/** A processor on these in-memory collaborators, its other dependencies as a consumer has them. */
function processorOf(collaborators: { cache: object; store: object; publisher: object }): BatchProcessor {
  const deps = {
    ...collaborators,
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

function processorWith(remember: Promise<void>, publish: Promise<void>, log: string[]): BatchProcessor {
  const flushed: FlushResult = { records: [auditRecordOf(stored, request)], reemitted: [false], committed: [stored], statements: 5 };
  return processorOf({
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
  });
}

const chunk = { topic: 't', partition: 0, messages: [], decoded: { requests: [source], deadLetters: [] } };
const settle = () => new Promise((r) => setTimeout(r, 10));

/**
 * A flush under way whose Redis update and publish wait for their gates; `outcome` is how it ended, once
 * it has. With `after`, it is a partition's flush after another, which ends at `after`.
 */
function startFlush(after?: Promise<void>) {
  const log: string[] = [];
  const redis = gate();
  const audit = gate();
  const outcome: { ended: boolean; failed: unknown } = { ended: false, failed: null };
  const order: FlushOrder | undefined = after && { released: () => log.push('released'), after };
  const flush = processorWith(redis.promise, audit.promise, log)
    .process([chunk], order)
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

  it("frees its partitions once MySQL committed and Redis was sent the update, and publishes only after the partitions' flush before it ended", async () => {
    const before = gate();
    const { log, redis, audit, outcome, flush } = startFlush(before.promise);
    await settle();
    expect(log).toEqual(['mysql committed', 'remember started', 'released']);
    audit.open();
    redis.open();
    await settle();
    expect(log).not.toContain('publish started');
    expect(outcome.ended).toBe(false);
    before.open();
    await flush;
    expect(outcome).toEqual({ ended: true, failed: null });
    expect(log.slice(-2)).toEqual(['publish started', 'publish done']);
  });

  it('fails without publishing when the flush before it failed', async () => {
    const before = gate();
    const { log, redis, outcome, flush } = startFlush(before.promise);
    await settle();
    before.fail(new EarlierFlushFailed(new Error('the broker refused the first flush')));
    redis.open();
    await flush;
    expect(outcome.failed).toBeInstanceOf(EarlierFlushFailed);
    expect(log).not.toContain('publish started');
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

/** A request of coupon C1 numbered `n`, at offset `n`. */
const sourceOf = (n: number): SourcedRequest => ({ request: { ...request, request_id: `r${n}` }, topic: 't', partition: 0, offset: n });

/**
 * A processor whose Redis lookup waits for `lookupGate` and knows the requests in `known`; its store logs
 * when a flush starts, and which requests the lookup let it decide.
 */
function overlapProcessor(lookupGate: () => Promise<void>, known: (r: SourcedRequest) => boolean, log: string[]): BatchProcessor {
  const decisionOf = (s: SourcedRequest): StoredDecision => ({ ...stored, requestId: s.request.request_id, sourceOffset: s.offset });
  return processorOf({
    cache: {
      lookup: async (requests: readonly SourcedRequest[]) => {
        log.push('lookup started');
        await lookupGate();
        log.push('lookup answered');
        const decisions = new Map(requests.filter(known).map((s) => [decisionKey('C1', s.request.request_id), decisionOf(s)] as const));
        return { decisions, redelivered: 0, answered: true };
      },
      remember: async () => {},
    } as unknown as DecisionCache,
    store: {
      flush: async (candidates: readonly SourcedRequest[], options: { selected: Promise<{ requests: readonly SourcedRequest[] }> }): Promise<FlushResult> => {
        log.push(`mysql started for ${candidates.map((c) => c.request.request_id).join(',')}`);
        const { requests } = await options.selected;
        log.push(`mysql decided ${requests.map((c) => c.request.request_id).join(',')}`);
        const committed = requests.map(decisionOf);
        return { records: committed.map((d, i) => auditRecordOf(d, requests[i]!.request)), reemitted: committed.map(() => false), committed, statements: 4 };
      },
    } as unknown as RedemptionStore,
    publisher: { publish: async () => {} } as unknown as DecisionPublisher,
  });
}

const chunkOf = (requests: SourcedRequest[]) => ({ topic: 't', partition: 0, messages: [], decoded: { requests, deadLetters: [] } });

describe('a flush before its MySQL commit', () => {
  it("starts MySQL's transaction while Redis looks up, and decides only the requests Redis did not know", async () => {
    const log: string[] = [];
    const lookup = gate();
    const processor = overlapProcessor(
      () => lookup.promise,
      (s) => s.offset === 1,
      log,
    );
    const flush = processor.process([chunkOf([sourceOf(1), sourceOf(2), sourceOf(3)])]);
    await settle();
    expect(log).toEqual(['lookup started', 'mysql started for r1,r2,r3']);
    lookup.open();
    await flush;
    expect(log.slice(2)).toEqual(['lookup answered', 'mysql decided r2,r3']);
  });

  it('after a flush whose requests Redis all knew (a replay), asks MySQL only once Redis has answered', async () => {
    const log: string[] = [];
    const processor = overlapProcessor(
      async () => {},
      (s) => s.offset < 10,
      log,
    );
    await processor.process([chunkOf([sourceOf(1), sourceOf(2)])]);
    // Every request known: MySQL decided none of them.
    expect(log).toEqual(['lookup started', 'mysql started for r1,r2', 'lookup answered', 'mysql decided ']);
    log.length = 0;
    await processor.process([chunkOf([sourceOf(3), sourceOf(11)])]);
    expect(log).toEqual(['lookup started', 'lookup answered', 'mysql started for r11', 'mysql decided r11']);
    log.length = 0;
    await processor.process([chunkOf([sourceOf(12)])]);
    expect(log).toEqual(['lookup started', 'mysql started for r12', 'lookup answered', 'mysql decided r12']);
  });
});
