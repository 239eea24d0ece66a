import { createRequire } from 'node:module';

import { describe, expect, it, vi } from 'vitest';

/**
 * The KafkaJS patch's coordinator look-up after a commit or heartbeat found the group's coordinator moved
 * (patches/kafkajs+2.2.4.patch, OffsetManager#findCoordinatorAgain): one look-up attempt per failure,
 * errors logged, and nobody waits on it longer than the heartbeat interval. It used to go through the
 * cluster's own retries inside the commit's retries (minutes, every error swallowed by an empty catch),
 * and the heartbeat in a batch waited on it for about 30 s.
 */
const require = createRequire(import.meta.url);
/* eslint-disable @typescript-eslint/no-explicit-any */
const OffsetManager = require('kafkajs/src/consumer/offsetManager/index.js') as any;
const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup.js') as any;
const { KafkaJSConnectionError } = require('kafkajs/src/errors.js') as any;
const Cluster = require('kafkajs/src/cluster/index.js') as any;

const WAIT_MS = 300;
const hang = () => new Promise<never>(() => {});

function logger() {
  const l: any = { warn: vi.fn(), info: vi.fn(), debug: vi.fn(), error: vi.fn() };
  l.namespace = () => l;
  return l;
}

/** A broker that lost its connection: every request fails as KafkaJS reports it. */
function lostBroker() {
  const fail = () => Promise.reject(new KafkaJSConnectionError('Connection error: socket closed'));
  return { nodeId: 1, isConnected: () => true, offsetCommit: vi.fn(fail), heartbeat: vi.fn(fail) };
}

/**
 * A real KafkaJS Cluster (never connected) whose look-up of the coordinator is `answer`: only methods the
 * Cluster really has are replaced, so the patch cannot call one that does not exist (as it once did).
 */
function cluster(answer: () => Promise<unknown>) {
  const c = new Cluster({ logger: logger(), socketFactory: () => null, brokers: ['127.0.0.1:1'], clientId: 't' });
  const counted = { lookups: 0 };
  const lookup = () => {
    counted.lookups += 1;
    return answer();
  };
  stub(c.brokerPool, 'findConnectedBroker', async () => ({ findGroupCoordinator: lookup }));
  stub(c, 'findGroupCoordinatorMetadata', lookup);
  stub(c, 'findBroker', async ({ nodeId }: { nodeId: number }) => ({ nodeId, isConnected: () => true, offsetCommit: vi.fn(async () => ({})) }));
  stub(c, 'refreshMetadata', async () => {});
  return Object.defineProperty(c, 'lookups', { get: () => counted.lookups });
}

/** Replaces a method `target` really has. */
function stub(target: any, name: string, fn: (...args: any[]) => unknown): void {
  expect(typeof target[name], `KafkaJS has ${name}`).toBe('function');
  target[name] = fn;
}

function offsetManager(c: ReturnType<typeof cluster>, log = logger()) {
  return new OffsetManager({
    cluster: c,
    coordinator: lostBroker(),
    memberAssignment: { t: [0] },
    topicConfigurations: {},
    instrumentationEmitter: { emit: () => {} },
    groupId: 'g',
    generationId: 1,
    memberId: 'm',
    logger: log,
    lookupWaitMs: WAIT_MS,
  });
}

const commit = (om: any) => om.commitOffsets({ topics: [{ topic: 't', partitions: [{ partition: 0, offset: '5' }] }] });

/** How long `promise` took to reject, in ms; fails the test if it takes longer than `bound`. */
async function rejectsWithin(promise: Promise<unknown>, bound: number): Promise<number> {
  const started = Date.now();
  const outcome = await Promise.race([
    promise.then(
      () => 'resolved',
      () => 'rejected',
    ),
    new Promise((resolve) => setTimeout(() => resolve('still waiting'), bound)),
  ]);
  expect(outcome).toBe('rejected');
  return Date.now() - started;
}

describe('the coordinator look-up after a commit or heartbeat failed', () => {
  it('a commit waits at most the heartbeat interval on a look-up that does not answer, and failures meanwhile share that one look-up', async () => {
    const c = cluster(hang);
    const om = offsetManager(c);
    for (let attempt = 0; attempt < 3; attempt++) await rejectsWithin(commit(om), WAIT_MS + 500);
    expect(c.lookups).toBe(1);
  });

  it('a look-up that fails is logged with its error, and the commit fails with its own', async () => {
    const log = logger();
    const c = cluster(() => Promise.reject(new Error('no broker answers')));
    const om = offsetManager(c, log);
    await expect(commit(om)).rejects.toThrow(/socket closed/);
    expect(log.warn).toHaveBeenCalledWith(expect.stringMatching(/coordinator/), expect.objectContaining({ error: 'no broker answers' }));
  });

  it('a look-up that answers moves the next commit to the new coordinator', async () => {
    const c = cluster(async () => ({ coordinator: { nodeId: 2 } }));
    const om = offsetManager(c);
    await expect(commit(om)).rejects.toThrow(/socket closed/);
    expect(om.coordinator.nodeId).toBe(2);
    await commit(om);
    expect(om.coordinator.offsetCommit).toHaveBeenCalledTimes(1);
  });

  it('a heartbeat in a batch waits at most the heartbeat interval on the look-up', async () => {
    const c = cluster(hang);
    const group = new ConsumerGroup({
      retry: { retries: 0 },
      cluster: c,
      groupId: 'g',
      topics: ['t'],
      topicConfigurations: {},
      logger: logger(),
      instrumentationEmitter: { emit: () => {} },
      assigners: [],
      sessionTimeout: 10_000,
      rebalanceTimeout: 20_000,
      heartbeatInterval: WAIT_MS,
    });
    Object.assign(group, { memberId: 'm', generationId: 1, coordinator: lostBroker(), offsetManager: offsetManager(c) });
    await rejectsWithin(group.heartbeat({ interval: 0 }), WAIT_MS + 500);
    await rejectsWithin(group.heartbeat({ interval: 0 }), WAIT_MS + 500);
    expect(c.lookups).toBe(1);
  });
});
