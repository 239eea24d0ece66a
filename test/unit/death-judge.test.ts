import { describe, expect, it } from 'vitest';

import {
  BACKGROUND_COMMIT_BOUND_MS,
  DeathJudge,
  leaseGraceMs,
  memberClientId,
  memberName,
  parseMemberClientId,
  progressGraceMs,
  type SweepView,
} from '../../consumers/member-liveness.js';

/** The sweep's rule (consumers/member-liveness.ts), fed views as the sweep would read them, once a second. */
const timing = { intervalMs: 1000 };
const ours = { keyPrefix: 'redeem', database: '0123456789abcdef' };
const client = (instance: string, identity = ours) => memberClientId(memberName(instance, identity));

interface World {
  state: string;
  /** member id → [process, partitions, lease present] */
  members: Record<string, [string, number[], boolean]>;
  /** partition → [committed, end] */
  offsets: Record<number, [number, number]>;
  redisDown?: boolean;
  foreign?: Record<string, string>;
}

function view(w: World): SweepView {
  const members = Object.entries(w.members).map(([memberId, [instance, partitions]]) => ({
    memberId,
    clientId: client(instance),
    ...(w.state === 'Stable' ? { partitions } : {}),
  }));
  for (const [memberId, clientId] of Object.entries(w.foreign ?? {})) members.push({ memberId, clientId, ...(w.state === 'Stable' ? { partitions: [] } : {}) });
  return {
    state: w.state,
    members,
    leases: w.redisDown ? null : new Map(Object.entries(w.members).map(([memberId, [, , lease]]) => [memberId, lease])),
    offsets: new Map(Object.entries(w.offsets).map(([p, [committed, end]]) => [Number(p), { committed, end }])),
  };
}

/** Runs the judge once a second from t=1 s to `seconds`, `world(t)` giving what each sweep sees; returns when each member was removed. */
function run(seconds: number, world: (t: number) => World, judge = new DeathJudge({ timing, identity: ours, self: memberName('me', ours) })) {
  const removed = new Map<string, number>();
  const warned: string[] = [];
  for (let t = 1; t <= seconds; t++) {
    const verdict = judge.judge(view(world(t)), t * 1000);
    for (const d of verdict.dead) if (!removed.has(d.memberId)) removed.set(d.memberId, t);
    for (const f of verdict.foreign) warned.push(f.mismatch);
  }
  return { removed, warned };
}

/** Members a (alive) and d; d's lease and progress as given; 1000 messages/s arriving on each partition. */
function pair(t: number, o: { dLease: (t: number) => boolean; dCommits: (t: number) => boolean; state?: string }): World {
  const committedAt = (partition: number) => {
    let last = 0;
    for (let s = 1; s <= t; s++) if (partition < 2 || o.dCommits(s)) last = s;
    return last * 1000;
  };
  return {
    state: o.state ?? 'Stable',
    members: { a: ['proc-a', [0, 1], true], d: ['proc-d', [2, 3], o.dLease(t)] },
    offsets: Object.fromEntries([0, 1, 2, 3].map((p) => [p, [committedAt(p), t * 1000 + 500]])),
  };
}

describe('the graces', () => {
  it('the progress grace is longer than the bound on background commits plus two sweeps', () => {
    expect(progressGraceMs(timing)).toBeGreaterThan(BACKGROUND_COMMIT_BOUND_MS + timing.intervalMs);
    expect(leaseGraceMs(timing)).toBe(2000);
  });
});

describe('the judgement', () => {
  it('a member whose lease is gone and whose partitions have lag and stand still is removed, within 6 s of its death', () => {
    const { removed } = run(30, (t) => pair(t, { dLease: (s) => s < 13, dCommits: (s) => s < 10 }));
    // Died at 10 s (its lease, lasting 3 s, last seen at 12 s).
    expect(removed.get('d')).toBeGreaterThanOrEqual(14);
    expect(removed.get('d')).toBeLessThanOrEqual(16);
    expect(removed.has('a')).toBe(false);
  });

  it('a missing lease alone never removes a member that keeps committing (cut off from Redis)', () => {
    const { removed } = run(60, (t) => pair(t, { dLease: (s) => s < 5, dCommits: () => true }));
    expect(removed.size).toBe(0);
  });

  it('a live member committing every 2 s (background commits) is not taken for stopped', () => {
    const { removed } = run(60, (t) => pair(t, { dLease: () => false, dCommits: (s) => s % 2 === 0 }));
    expect(removed.size).toBe(0);
  });

  it('a member without a lease whose partitions have no lag is left to its session', () => {
    const { removed } = run(30, (t) => {
      const w = pair(t, { dLease: () => false, dCommits: () => false });
      w.offsets[2] = [0, 0];
      w.offsets[3] = [0, 0];
      return w;
    });
    expect(removed.size).toBe(0);
  });

  it('a stall shorter than the graces is absorbed', () => {
    // Stopped from 10 s to 14 s: the lease (3 s) runs out at 13 s, progress stands still 4 s.
    const { removed } = run(40, (t) => pair(t, { dLease: (s) => s < 13 || s >= 14, dCommits: (s) => s < 10 || s >= 14 }));
    expect(removed.size).toBe(0);
  });

  it('a sweep that could not read Redis starts the lease grace over: the first sweep after it removes nobody', () => {
    const { removed } = run(40, (t) => ({
      ...pair(t, { dLease: (s) => s < 5, dCommits: (s) => s < 5 }),
      redisDown: t >= 6 && t < 20,
    }));
    // Lease missing since 5 s, but Redis unreadable 6-19 s: judged again from 20 s, removed after the grace.
    expect(removed.get('d')).toBe(22);
  });

  it('a member stuck in a rebalance it joined is judged by the whole topic: removed once nothing moved for the grace', () => {
    // d joins at 10 s without a lease and never completes the rebalance; until then a held everything.
    const { removed } = run(30, (t): World => {
      const committed = Math.min(t, 9) * 1000;
      const offsets = Object.fromEntries([0, 1, 2, 3].map((p) => [p, [committed, t * 1000 + 500] as [number, number]]));
      if (t < 10) return { state: 'Stable', members: { a: ['proc-a', [0, 1, 2, 3], true] }, offsets };
      return { state: 'PreparingRebalance', members: { a: ['proc-a', [], true], d: ['proc-d', [], false] }, offsets };
    });
    // The last commits were seen at 9 s: 4 s later every partition has stood still for the grace.
    expect(removed.get('d')).toBe(13);
  });

  it('a dead member that held nothing is removed once it holds up a rebalance and the topic stands still', () => {
    // d (a ghost the assignor gave nothing) died long ago; at 10 s another member joins and the group waits for d.
    const { removed } = run(30, (t): World => {
      const committed = Math.min(t, 9) * 1000;
      const offsets = Object.fromEntries([0, 1, 2, 3].map((p) => [p, [committed, t * 1000 + 500] as [number, number]]));
      const members: World['members'] = { a: ['proc-a', [0, 1, 2, 3], true], d: ['proc-d', [], false] };
      return { state: t < 10 ? 'Stable' : 'PreparingRebalance', members, offsets };
    });
    expect(removed.get('d')).toBe(13);
  });

  it('during a rebalance a member is judged by the partitions it last held', () => {
    // d dies at 10 s; a joins another member at 11 s, so the group rebalances and waits for d.
    const { removed } = run(30, (t) => {
      const w = pair(t, { dLease: (s) => s < 13, dCommits: (s) => s < 10 });
      return t >= 11 ? { ...w, state: 'PreparingRebalance' } : w;
    });
    expect(removed.get('d')).toBe(15);
  });

  it('a judge that was itself stalled judges nobody on its first sweep after it', () => {
    const judge = new DeathJudge({ timing, identity: ours, self: memberName('me', ours) });
    const dead = (t: number) => pair(t, { dLease: () => false, dCommits: () => false });
    expect(judge.judge(view(dead(1)), 1000).dead).toEqual([]);
    // Next sweep 8 s later: it was not watching, so nothing it saw before counts.
    expect(judge.judge(view(dead(9)), 9000).dead).toEqual([]);
    for (let t = 10; t < 13; t++) expect(judge.judge(view(dead(t)), t * 1000).dead).toEqual([]);
    expect(judge.judge(view(dead(13)), 13_000).dead.map((d) => d.memberId)).toEqual(['d']);
  });

  it('a sweep that took longer than two intervals acts on nothing it saw', () => {
    const judge = new DeathJudge({ timing, identity: ours, self: memberName('me', ours) });
    const dead = (t: number) => pair(t, { dLease: () => false, dCommits: () => false });
    for (let t = 1; t < 10; t++) judge.judge(view(dead(t)), t * 1000);
    expect(judge.judge(view(dead(10)), 10_000, 7000).dead).toEqual([]);
    expect(judge.judge(view(dead(11)), 11_000, 10_900).dead.map((d) => d.memberId)).toEqual(['d']);
  });

  it('a member of another pipeline is never removed, and is reported once with what differs', () => {
    const other = { keyPrefix: 'redeem-next', database: ours.database };
    const { removed, warned } = run(30, (t) => ({
      ...pair(t, { dLease: () => true, dCommits: () => true }),
      foreign: { x: client('proc-x', other), y: 'redeem-member~old-style-instance' },
    }));
    expect(removed.size).toBe(0);
    expect(warned).toEqual(['REDIS_KEY_PREFIX "redeem-next" (ours "redeem")', 'no pipeline identity in its client id (an older version)']);
  });

  it('another database is a mismatch too', () => {
    const { warned } = run(2, (t) => ({
      ...pair(t, { dLease: () => true, dCommits: () => true }),
      foreign: { x: client('proc-x', { ...ours, database: 'ffff' }) },
    }));
    expect(warned).toEqual([`database ffff (ours ${ours.database})`]);
  });

  it('never judges its own process', () => {
    const judge = new DeathJudge({ timing, identity: ours, self: memberName('proc-d', ours) });
    const { removed } = run(30, (t) => pair(t, { dLease: () => false, dCommits: () => false }), judge);
    expect(removed.size).toBe(0);
  });
});

describe('the member client id', () => {
  it('carries the process and the pipeline; other clients are not members', () => {
    expect(parseMemberClientId(client('host-1-abc'))).toEqual({ name: 'host-1-abc~redeem~0123456789abcdef', instance: 'host-1-abc', identity: ours });
    expect(parseMemberClientId('redeem-member~host-1-abc')).toEqual({ name: 'host-1-abc', instance: 'host-1-abc' });
    expect(parseMemberClientId('analyst-tool')).toBeUndefined();
    expect(parseMemberClientId('redeem-member~')).toBeUndefined();
  });
});
