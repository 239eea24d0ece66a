import { setTimeout as sleep } from 'node:timers/promises';

import { AssignerProtocol, type Consumer } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';

import { type GhostReaperOptions, leaseKey } from '../../consumers/member-liveness.js';
import { stickyAssignor } from '../../consumers/sticky-assignor.js';
import { createKafka } from '../../lib/kafka.js';
import { redisReady } from '../../lib/redis.js';
import { logEntries } from '../../scripts/harness/consumer-process.js';
import { BackgroundConsumer, IsolatedPipeline, runCli, verifyEqual, waitForDrainBy, waitUntil } from './helpers.js';

/**
 * What the dead-member sweep leaves alone, and what a mistaken removal costs. The session is 30 s here so
 * that a removal cannot be confused with a session running out. (A kill -9, a Redis cut or restart, a
 * stall and a member of another pipeline are in member-sweep.test.ts.)
 */
const LONG_SESSION = { SESSION_TIMEOUT_MS: '30000', HEARTBEAT_INTERVAL_MS: '1000', TOPIC_PARTITIONS: '6' };

const pipelines: IsolatedPipeline[] = [];
const consumers: BackgroundConsumer[] = [];
const foreign: Consumer[] = [];
afterAll(async () => {
  for (const c of consumers) await c.kill9();
  for (const c of foreign) await c.disconnect();
  for (const p of pipelines) await p.cleanup();
});

async function pipeline(): Promise<IsolatedPipeline> {
  const p = new IsolatedPipeline(LONG_SESSION);
  pipelines.push(p);
  await p.setUp();
  return p;
}

function start(p: IsolatedPipeline): BackgroundConsumer {
  const c = new BackgroundConsumer(p.env);
  consumers.push(c);
  return c;
}

interface Member {
  memberId: string;
  clientId: string;
  partitions: number[];
}

/** The group's members as the coordinator sees them, with their partitions of the requests topic once assigned. */
async function members(p: IsolatedPipeline): Promise<{ state: string; members: Member[] }> {
  const admin = p.rt.kafka().admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([p.config.consumerGroup]);
    const group = groups[0]!;
    return {
      state: group.state,
      members: group.members.map((m) => ({
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

const stable = (g: { state: string; members: Member[] }, count: number) =>
  g.state === 'Stable' && g.members.length === count && g.members.reduce((n, m) => n + m.partitions.length, 0) === 6;

const removals = (c: BackgroundConsumer) => logEntries(c.stderr).filter((e) => String(e.msg).startsWith('removed a dead member'));

describe('the dead-member sweep: what it leaves alone, and what a mistaken removal costs', () => {
  it('never removes a live member whose lease went missing for a moment, nor a member that keeps no lease', async () => {
    const p = await pipeline();
    const member = start(p);
    // Another client in the same group (same protocol, its own client id): it keeps no lease.
    const other = createKafka(p.config.kafkaBrokers, 'analyst-tool', p.rt.logger).consumer({
      groupId: p.config.consumerGroup,
      sessionTimeout: 30_000,
      heartbeatInterval: 1000,
      partitionAssigners: [stickyAssignor(() => new Map(), 'analyst-tool')],
    });
    foreign.push(other);
    await other.connect();
    await other.subscribe({ topic: p.config.redemptionTopic, fromBeginning: true });
    await other.run({ autoCommit: false, eachBatch: async () => {} });
    await waitUntil('both in the group', async () => stable(await members(p), 2), 90_000);
    const before = await members(p);
    const mine = before.members.find((m) => m.clientId.startsWith('redeem-member~'))!;

    // As after a FLUSHALL or a Redis failover: the live member writes it again within a heartbeat.
    const instance = mine.clientId.slice('redeem-member~'.length);
    const redis = p.rt.redis();
    await redisReady(redis);
    for (let blip = 0; blip < 4; blip++) {
      expect(await redis.del(leaseKey(p.config.redisKeyPrefix, instance))).toBe(1);
      await sleep(2500);
    }

    const after = await members(p);
    expect(after.members.map((m) => m.memberId).sort()).toEqual(before.members.map((m) => m.memberId).sort());
    expect(after.state).toBe('Stable');
    expect(removals(member)).toEqual([]);
  }, 180_000);

  it('a live member removed from the group (as a mistaken judgement would) rejoins and goes on deciding', async () => {
    const p = await pipeline();
    expect((await p.cli(['coupons', 'generate', '--count', '100', '--prefix', 'LIVE', '--quota', '50'])).code).toBe(0);
    const TOTAL = 12_000;
    const producing = runCli(['produce', '--generate', String(TOTAL), '--coupons', '100', '--coupon-prefix', 'LIVE', '--rate', '1500', '--no-progress'], p.env);
    const member = start(p);
    await waitUntil('the member alone with every partition', async () => stable(await members(p), 1), 90_000);
    await sleep(2000);
    const [victim] = (await members(p)).members;
    // The project's KafkaJS patch adds removeGroupMember (see consumers/member-liveness.ts).
    const admin = p.rt.kafka().admin() as GhostReaperOptions['admin'];
    await admin.connect();
    try {
      await admin.removeGroupMember({ groupId: p.config.consumerGroup, memberId: victim!.memberId });
    } finally {
      await admin.disconnect();
    }
    await waitUntil(
      'the member back in the group under a new member id',
      async () => {
        const g = await members(p);
        return stable(g, 1) && g.members[0]!.memberId !== victim!.memberId;
      },
      60_000,
    );

    const produced = await producing;
    expect(produced.code, produced.stderr).toBe(0);
    await waitForDrainBy(p, member);
    expect(await member.stop(), member.stderr).toBe(0);
    const { equal, report } = await verifyEqual(p);
    expect(equal, report).toBe(true);
  }, 240_000);
});
