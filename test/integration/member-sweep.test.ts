import { type ChildProcess, spawn } from 'node:child_process';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import { AssignerProtocol } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { logEntries } from '../../scripts/harness/consumer-process.js';
import { BackgroundConsumer, committedOffsets, drained, freePort, IsolatedPipeline, runCli, verifyEqual, waitUntil } from './helpers.js';

/**
 * The dead-member sweep removes only what is dead (consumers/member-liveness.ts). Three members share a
 * paced load on 6 partitions, on a redis-server this file starts (never the machine's), with member C
 * reaching it through a TCP proxy the test controls. The session is 30 s, so that any removal in these
 * tests is the sweep's and cannot be mistaken for a session running out. Rebalances are counted from
 * member A's `redeem_rebalances_total` (A stays in the group throughout).
 */
const GROUP = { SESSION_TIMEOUT_MS: '30000', HEARTBEAT_INTERVAL_MS: '1000', TOPIC_PARTITIONS: '6', LOG_LEVEL: 'warn' };
const RATE = 500;

/** A TCP proxy (to Redis, or MySQL) whose connections the test can cut (every open one closed, new ones refused). */
class CuttableProxy {
  private readonly sockets = new Set<Socket>();
  private cut = false;
  private server: Server | null = null;
  port = 0;

  constructor(private readonly target: number) {}

  async start(): Promise<void> {
    this.port = await freePort();
    this.server = createServer((client) => {
      if (this.cut) return void client.destroy();
      const upstream = createConnection({ host: '127.0.0.1', port: this.target });
      for (const [a, b] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        this.sockets.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => (this.sockets.delete(a), b.destroy()));
        a.pipe(b);
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  /** Cuts the connection for `ms`. */
  async cutFor(ms: number): Promise<void> {
    this.cut = true;
    for (const s of this.sockets) s.destroy();
    await sleep(ms);
    this.cut = false;
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server?.close();
  }
}

/** A redis-server of this file's own on a free port, without persistence. */
class OwnRedis {
  private child: ChildProcess | null = null;
  port = 0;

  async start(): Promise<void> {
    this.port ||= await freePort();
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await waitUntil('the redis-server to listen', () => listening(this.port), 20_000);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

interface Member {
  memberId: string;
  clientId: string;
  partitions: number[];
}

const redis = new OwnRedis();
let proxy: CuttableProxy;
/** Member C's way to MySQL. */
let mysqlProxy: CuttableProxy;
let p: IsolatedPipeline;
const members = new Map<string, { consumer: BackgroundConsumer; metricsPort: number }>();
const everyone: BackgroundConsumer[] = [];
const loads: Promise<unknown>[] = [];

async function startMember(name: string, env: Record<string, string> = {}): Promise<BackgroundConsumer> {
  const metricsPort = await freePort();
  const consumer = new BackgroundConsumer({ ...p.env, METRICS_PORT: String(metricsPort), ...env });
  members.set(name, { consumer, metricsPort });
  everyone.push(consumer);
  return consumer;
}

/** One figure of a member's /metrics (0 when absent). */
async function metric(name: string, metricName: string): Promise<number> {
  const { metricsPort } = members.get(name)!;
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return Number(new RegExp(`^${metricName} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
}

const rebalancesOfA = () => metric('A', 'redeem_rebalances_total');

async function group(): Promise<{ state: string; members: Member[] }> {
  const admin = p.rt.kafka().admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([p.config.consumerGroup]);
    const g = groups[0]!;
    return {
      state: g.state,
      members: g.members.map((m) => ({
        memberId: m.memberId,
        clientId: m.clientId,
        partitions:
          m.memberAssignment.length > 0 ? (AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[p.config.redemptionTopic] ?? []) : [],
      })),
    };
  } finally {
    await admin.disconnect();
  }
}

async function stableWith(count: number, timeoutMs = 60_000): Promise<Member[]> {
  let seen: Member[] = [];
  let state = 'unknown';
  try {
    await waitUntil(
      `a stable group of ${count} sharing the 6 partitions`,
      async () => {
        const g = await group();
        [seen, state] = [g.members, g.state];
        return g.state === 'Stable' && g.members.length === count && g.members.reduce((n, m) => n + m.partitions.length, 0) === 6;
      },
      timeoutMs,
    );
  } catch (error) {
    // What the group and each member were doing when time ran out: the wait alone does not say.
    const group = seen.map((m) => `${m.clientId} [${m.partitions.join(',')}]`).join('; ');
    const processes = [...members].map(([name, { consumer }]) => {
      const { exitCode, signalCode } = consumer.child;
      const tail = consumer.stderr.trim().split('\n').slice(-3).join('\n    ');
      return `  ${name}: ${exitCode === null && signalCode === null ? 'running' : `exited (${exitCode ?? signalCode})`}\n    ${tail}`;
    });
    throw new Error(`${(error as Error).message}; the group was ${state} with ${seen.length} members: ${group}\n${processes.join('\n')}`, { cause: error });
  }
  return seen;
}

const memberIds = (ms: Member[]) => ms.map((m) => m.memberId).sort();

/** A paced checkout load for about `seconds`. */
function load(seconds: number): void {
  const producing = runCli(
    ['produce', '--generate', String(RATE * seconds), '--coupons', '100', '--coupon-prefix', 'SWEEP', '--rate', String(RATE), '--no-progress'],
    p.env,
  );
  loads.push(producing);
}

/** The removals any member (current or gone) logged since `since` (ms since epoch). */
const removalsSince = (since: number) =>
  everyone.flatMap((c) => logEntries(c.stderr).filter((e) => String(e.msg).startsWith('removed a dead member') && Number(e.time) >= since));

beforeAll(async () => {
  await redis.start();
  proxy = new CuttableProxy(redis.port);
  await proxy.start();
  p = new IsolatedPipeline({ ...GROUP, REDIS_URL: `redis://127.0.0.1:${redis.port}` });
  await p.setUp();
  const mysqlUrl = new URL(p.config.mysqlUrl);
  mysqlProxy = new CuttableProxy(Number(mysqlUrl.port || 3306));
  await mysqlProxy.start();
  mysqlUrl.port = String(mysqlProxy.port);
  expect((await p.cli(['coupons', 'generate', '--count', '100', '--prefix', 'SWEEP', '--quota', '100000'])).code).toBe(0);
  await startMember('A');
  await startMember('B');
  await startMember('C', { REDIS_URL: `redis://127.0.0.1:${proxy.port}`, MYSQL_URL: mysqlUrl.toString() });
  await stableWith(3, 90_000);
}, 120_000);

afterAll(async () => {
  for (const consumer of everyone) {
    consumer.child.kill('SIGCONT');
    await consumer.kill9();
  }
  await Promise.allSettled(loads);
  await p?.cleanup();
  proxy?.close();
  mysqlProxy?.close();
  await redis.stop();
}, 120_000);

describe('the dead-member sweep removes only what is dead', () => {
  it("one member's Redis connection cut for 10 s: at most one rebalance, and decisions keep flowing on every partition", async () => {
    const before = await stableWith(3);
    load(16);
    await sleep(3000);
    const since = Date.now();
    const rebalances = await rebalancesOfA();
    const atCut = await committedOffsets(p);
    const cutting = proxy.cutFor(10_000);
    await sleep(5000);
    const halfway = await committedOffsets(p);
    await cutting;
    const atEnd = await committedOffsets(p);
    const rebalancesDuring = (await rebalancesOfA()) - rebalances;
    const stalled = (from: Map<number, number>, to: Map<number, number>) => [...to].filter(([partition, offset]) => offset <= (from.get(partition) ?? 0));
    console.log(JSON.stringify({ test: 'redis-cut', rebalancesDuring, removals: removalsSince(since).length }));
    expect(rebalancesDuring).toBeLessThanOrEqual(1);
    // In each half of the cut, every partition committed something new.
    expect(stalled(atCut, halfway)).toEqual([]);
    expect(stalled(halfway, atEnd)).toEqual([]);
    expect(atEnd.size).toBe(6);
    if (rebalancesDuring === 0) expect(memberIds((await group()).members)).toEqual(memberIds(before));
  }, 90_000);

  it('a restart of Redis with 3 members, one of them reconnecting 5 s after the others: nobody is removed', async () => {
    const before = await stableWith(3);
    load(16);
    await sleep(2000);
    const since = Date.now();
    const rebalances = await rebalancesOfA();
    // Redis restarts empty (every lease gone); C gets through again 5 s after A and B (its proxy stays cut),
    // as members whose reconnection backoffs differ do.
    await redis.stop();
    const cNotBack = proxy.cutFor(7000);
    await sleep(2000);
    await redis.start();
    await cNotBack;
    // Long enough for every lease to have been judged missing and every grace to run out.
    await sleep(6000);
    const after = await group();
    console.log(JSON.stringify({ test: 'redis-restart', rebalances: (await rebalancesOfA()) - rebalances, removals: removalsSince(since).length }));
    expect(removalsSince(since)).toEqual([]);
    expect((await rebalancesOfA()) - rebalances).toBe(0);
    expect(memberIds(after.members)).toEqual(memberIds(before));
  }, 90_000);

  it('a member of another pipeline (another REDIS_KEY_PREFIX) in the group: a warning names the mismatch, and nobody is removed', async () => {
    load(20);
    const since = Date.now();
    const other = await startMember('D', { REDIS_KEY_PREFIX: `${p.config.redisKeyPrefix}-next` });
    const joined = await stableWith(4);
    const rebalances = await rebalancesOfA();
    // Lease grace + progress grace + sweeps, twice over.
    await sleep(12_000);
    const after = await group();
    console.log(JSON.stringify({ test: 'two-prefixes', rebalances: (await rebalancesOfA()) - rebalances, removals: removalsSince(since).length }));
    expect(removalsSince(since)).toEqual([]);
    expect((await rebalancesOfA()) - rebalances).toBe(0);
    expect(after.state).toBe('Stable');
    expect(memberIds(after.members)).toEqual(memberIds(joined));
    // Both sides say what differs.
    const warnings = (c: BackgroundConsumer) => logEntries(c.stderr).filter((e) => String(e.msg).startsWith('a member of another pipeline'));
    expect(warnings(members.get('A')!.consumer)[0]?.mismatch).toMatch(new RegExp(`REDIS_KEY_PREFIX "${p.config.redisKeyPrefix}-next"`));
    expect(warnings(other).length).toBeGreaterThanOrEqual(3);
    expect(await other.stop()).toBe(0);
    members.delete('D');
    await stableWith(3);
  }, 120_000);

  it('a 7 s SIGSTOP of one member: it rejoins or is replaced, with at most 2 rebalances', async () => {
    await stableWith(3);
    load(22);
    await sleep(2000);
    const since = Date.now();
    const rebalances = await rebalancesOfA();
    const victim = members.get('B')!.consumer;
    victim.child.kill('SIGSTOP');
    await sleep(7000);
    victim.child.kill('SIGCONT');
    await stableWith(3);
    await sleep(3000);
    const rebalancesDuring = (await rebalancesOfA()) - rebalances;
    console.log(JSON.stringify({ test: 'sigstop-7s', rebalancesDuring, removals: removalsSince(since).length }));
    expect(rebalancesDuring).toBeLessThanOrEqual(2);
    expect((await group()).members).toHaveLength(3);
  }, 90_000);

  it('a member cut off from Redis and from MySQL (alive in Kafka, deciding nothing) is taken for dead: removed, its partitions decided by the others, back when it can work', async () => {
    // Both signs hold for C: no lease, and its partitions lag and stand still (its flush waits for MySQL).
    // It looks dead and is removed; its partitions go on at A and B. A removal costs a rebalance, never a loss.
    await stableWith(3);
    load(16);
    await sleep(2000);
    const since = Date.now();
    const cutting = Promise.all([proxy.cutFor(12_000), mysqlProxy.cutFor(12_000)]);
    let removedAfter: number | null = null;
    await waitUntil(
      'C to be removed by a peer',
      async () => {
        removedAfter = removalsSince(since).length > 0 ? (Date.now() - since) / 1000 : null;
        return removedAfter !== null;
      },
      12_000,
    );
    // Every partition moves on after the removal: C's at A and B (C, back, may take some again later).
    const atRemoval = await committedOffsets(p);
    await waitUntil(
      'every partition to commit again',
      async () => [...(await committedOffsets(p))].filter(([partition, offset]) => offset > (atRemoval.get(partition) ?? 0)).length === 6,
      15_000,
    );
    await cutting;
    console.log(JSON.stringify({ test: 'redis-and-mysql-cut', removedAfter, removals: removalsSince(since).length }));
    expect(removedAfter).toBeLessThanOrEqual(12);
    await stableWith(3);
  }, 60_000);

  it('kill -9 of a member, a replacement started at once: its first decision within 10 s of its start', async () => {
    await stableWith(3);
    load(20);
    await sleep(3000);
    await members.get('C')!.consumer.kill9();
    const startedAt = Date.now();
    // At info, so that its log says when it joined: a miss of the bound then shows which step took the time.
    const replacement = await startMember('C2', { LOG_LEVEL: 'info' });
    let servingAfter: number | null = null;
    await waitUntil(
      'the replacement to decide',
      async () => {
        const messages = await metric('C2', 'redeem_messages_total').catch(() => -1);
        if (messages >= 0) servingAfter ??= (Date.now() - startedAt) / 1000;
        return messages > 0;
      },
      60_000,
    );
    const seconds = (Date.now() - startedAt) / 1000;
    const removedAfter = removalsSince(startedAt).map((e) => (Number(e.time) - startedAt) / 1000);
    const joinedAfter = logEntries(replacement.stderr)
      .filter((e) => e.msg === 'joined the group')
      .map((e) => (Number(e.time) - startedAt) / 1000);
    const timeline = JSON.stringify({ test: 'kill-9-replacement', firstDecisionAfterSeconds: seconds, servingAfter, removedAfter, joinedAfter });
    console.log(timeline);
    expect(seconds, timeline).toBeLessThanOrEqual(10);
  }, 90_000);

  it('after all of it: the group drains and verify is equal', async () => {
    for (const produced of loads) expect(((await produced) as { code: number | null }).code).toBe(0);
    await waitUntil('the group to drain the topic', () => drained(p), 120_000);
    const { equal, report } = await verifyEqual(p);
    expect(equal, report).toBe(true);
  }, 180_000);
});
