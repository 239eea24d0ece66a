/**
 * How members of the group tell a dead member from a live one within seconds, not a session.
 *
 * The coordinator learns that a member died only when its session runs out (10 s). Until then a dead
 * member holds its partitions unread; after a crash loop, dead processes whose JoinGroup was parked at
 * the coordinator are carried into the next generation, may be chosen to lead it, and the live members
 * wait in SyncGroup for an assignment that never comes, one dead generation after another.
 *
 * So every member keeps a lease in Redis (refreshed each heartbeat interval, lasting three) and names
 * its process and its pipeline in its Kafka client id, which the coordinator reports for every member
 * in every group state. Each member sweeps the group each heartbeat interval. The rule:
 *
 *   A member is removed (a LeaveGroup sent on its behalf) only when it is of this pipeline (same
 *   REDIS_KEY_PREFIX and database identity, in the same group), and both signs of death have held
 *   for their grace, on this process's monotonic clock:
 *   1. its lease has been missing in every sweep for `leaseGraceMs` (any sweep that could not read
 *      Redis starts this over for everyone), and
 *   2. the work it holds has stopped: some of its partitions have lag and none of its lagging
 *      partitions' committed offsets has moved for `progressGraceMs`, which is longer than a live
 *      member may take to commit what it decided (BACKGROUND_COMMIT_BOUND_MS) plus two sweeps. Its
 *      partitions are those the last Stable view of the group gave it; while the group rebalances,
 *      every partition waits for every member, so the whole topic standing still counts too.
 *
 * Why this is safe: the two signs are independent. A live member that cannot reach Redis loses its
 * lease but goes on deciding (through MySQL) and committing, so sign 2 never holds for it; a live
 * member whose work has stopped for a moment (a slow flush, an idle topic) keeps its lease. Only a
 * member with no lease *and* no progress is taken for dead, which is what a dead process, or one
 * stalled for longer than the graces (indistinguishable until it wakes), looks like. A mistaken
 * removal costs a rebalance, never a loss: the member rejoins and its redelivered flush re-emits the
 * stored decisions. A member of another pipeline (another prefix or database, e.g. during a rolling
 * change) is never judged, since its lease is not where this one would look: a warning names the
 * mismatch instead. A judge that was itself stalled (its sweeps more than three intervals apart), or
 * whose sweep took longer than two intervals, judges nobody on what it saw.
 */
import { performance } from 'node:perf_hooks';

import { type Admin, AssignerProtocol } from 'kafkajs';
import type { Logger } from 'pino';

import { groupProgress } from '../lib/kafka.js';
import { type RedisClient, redisReady } from '../lib/redis.js';

const CLIENT_ID_PREFIX = 'redeem-member~';

/**
 * The longest a live member's committed offsets may trail its decisions: the bound the hot path puts on
 * its background offset commits. The grace on progress is longer than this.
 */
export const BACKGROUND_COMMIT_BOUND_MS = 2000;

/** Which pipeline a member works for: the Redis key prefix and the identity of its database. */
export interface PipelineIdentity {
  keyPrefix: string;
  /** `databaseIdentity()` of its MySQL database. */
  database: string;
}

/**
 * A member's name: its process (see `newConsumerId`) and its pipeline. It follows `redeem-member~` in
 * the Kafka client id and names the lease (the whole name, so that a member of the previous version,
 * which took everything after the prefix for the process, finds the lease too).
 */
export function memberName(instance: string, identity: PipelineIdentity): string {
  return `${instance}~${identity.keyPrefix}~${identity.database}`;
}

/** The Kafka client id of a group member (see `memberName`). */
export function memberClientId(name: string): string {
  return `${CLIENT_ID_PREFIX}${name}`;
}

/** What a client id tells about a member that keeps a lease; undefined for any other client. */
export interface MemberIdentity {
  /** Names its lease. */
  name: string;
  /** Its process. */
  instance: string;
  /** Its pipeline; undefined for a member of a version that did not say. */
  identity?: PipelineIdentity;
}

export function parseMemberClientId(clientId: string): MemberIdentity | undefined {
  if (!clientId.startsWith(CLIENT_ID_PREFIX) || clientId.length === CLIENT_ID_PREFIX.length) return undefined;
  const name = clientId.slice(CLIENT_ID_PREFIX.length);
  const parts = name.split('~');
  if (parts.length !== 3 || parts.some((p) => p === '')) return { name, instance: name };
  return { name, instance: parts[0]!, identity: { keyPrefix: parts[1]!, database: parts[2]! } };
}

/** The lease's Redis key; the hash tag keeps each key in one slot of a Redis Cluster. */
export function leaseKey(prefix: string, name: string): string {
  return `${prefix}:alive:{${name}}`;
}

export interface LivenessTiming {
  /** How often the lease is refreshed and the group swept (the heartbeat interval). */
  intervalMs: number;
}

/** A lease lasts three intervals. */
export function leaseTtlMs(t: LivenessTiming): number {
  return 3 * t.intervalMs;
}

/** Sign 1: how long a member's lease must have been missing. */
export function leaseGraceMs(t: LivenessTiming): number {
  return 2 * t.intervalMs;
}

/** Sign 2: how long its lagging partitions' committed offsets must have stood still. */
export function progressGraceMs(t: LivenessTiming): number {
  return BACKGROUND_COMMIT_BOUND_MS + 2 * t.intervalMs;
}

/** This process's proof of life. */
export class MemberLease {
  private timer: NodeJS.Timeout | null = null;
  private warned = false;
  private readonly onReady = () => void this.refresh();

  constructor(private readonly o: { redis: RedisClient; key: string; timing: LivenessTiming; logger: Logger }) {}

  async start(): Promise<void> {
    // The client connects lazily and queues nothing offline; a Redis that is down must not hold up the
    // start (the member then waits for its session like any other), so wait a little, then go on.
    await redisReady(this.o.redis, 2000).catch(() => {});
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.o.timing.intervalMs);
    this.timer.unref();
    // Written again as soon as Redis is back (after a restart it has forgotten every lease).
    this.o.redis.on('ready', this.onReady);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.o.redis.off('ready', this.onReady);
    // A member that leaves cleanly needs no judging; the key would expire anyway.
    await this.o.redis.del(this.o.key).catch(() => {});
  }

  private async refresh(): Promise<void> {
    try {
      await this.o.redis.set(this.o.key, String(Date.now()), 'PX', leaseTtlMs(this.o.timing));
      this.warned = false;
    } catch (error) {
      // Once per outage. Peers do not remove a member for a missing lease alone (see above).
      if (!this.warned) this.o.logger.warn({ err: error }, 'could not refresh the liveness lease in Redis');
      this.warned = true;
    }
  }
}

/** One member of the group as a sweep saw it. */
export interface SeenMember {
  memberId: string;
  clientId: string;
  /** Its partitions of the requests topic: only while the group is Stable. */
  partitions?: number[];
}

/** What one sweep read. */
export interface SweepView {
  /** The group's state (Stable, PreparingRebalance, CompletingRebalance, Empty, Dead). */
  state: string;
  members: SeenMember[];
  /** Member id → whether its lease exists, for the members judged; null when Redis could not be read. */
  leases: Map<string, boolean> | null;
  /** Per partition of the requests topic: the group's committed offset and the partition's end. */
  offsets: Map<number, { committed: number; end: number }>;
}

export interface Verdict {
  /** Members to remove. */
  dead: { memberId: string; instance: string }[];
  /** Members of another pipeline, each reported once: why they are not judged. */
  foreign: { memberId: string; clientId: string; mismatch: string }[];
}

/**
 * The rule above as a pure state machine: fed every sweep's view with the monotonic time it was taken,
 * it says whom to remove. It remembers when each lease went missing, each member's partitions from the
 * last Stable view, and since when each partition's committed offset has stood where it is.
 */
export class DeathJudge {
  private readonly missingSince = new Map<string, number>();
  private readonly partitionsOf = new Map<string, number[]>();
  private readonly committedSince = new Map<number, { offset: number; since: number }>();
  private readonly reported = new Set<string>();
  private lastSweepAt: number | null = null;

  constructor(private readonly o: { timing: LivenessTiming; identity: PipelineIdentity; self: string }) {}

  /** The members of this pipeline that keep leases, which are the ones judged. */
  judged(view: Pick<SweepView, 'members'>): (SeenMember & { name: string; instance: string })[] {
    return view.members.flatMap((m) => {
      const id = parseMemberClientId(m.clientId);
      if (!id || id.name === this.o.self || !this.samePipeline(id)) return [];
      return [{ ...m, name: id.name, instance: id.instance }];
    });
  }

  /** A sweep failed before it read everything: nothing it saw counts, and the lease graces start over. */
  failed(now: number): void {
    this.missingSince.clear();
    this.lastSweepAt = now;
  }

  judge(view: SweepView, now: number, sweepStartedAt: number = now): Verdict {
    const { intervalMs } = this.o.timing;
    // Was this judge watching? After a stall of its own it knows nothing about the time in between.
    const wasWatching = this.lastSweepAt !== null && now - this.lastSweepAt <= 3 * intervalMs;
    this.lastSweepAt = now;
    this.forgetGone(view);
    const foreign = this.foreign(view);
    this.trackProgress(view, now, wasWatching);
    if (view.state === 'Stable') for (const m of view.members) this.partitionsOf.set(m.memberId, m.partitions ?? []);
    // mutant: sweep-grace-kept-after-redis-failure
    if (view.leases === null || !wasWatching) {
      this.missingSince.clear();
      return { dead: [], foreign };
    }
    const dead: Verdict['dead'] = [];
    for (const m of this.judged(view)) {
      if (view.leases.get(m.memberId) !== false) {
        this.missingSince.delete(m.memberId);
        continue;
      }
      const since = this.missingSince.get(m.memberId) ?? now;
      this.missingSince.set(m.memberId, since);
      // A sweep that took long saw things that may have changed meanwhile: act on none of it.
      if (now - sweepStartedAt > 2 * intervalMs) continue;
      if (now - since < leaseGraceMs(this.o.timing)) continue;
      // mutant: sweep-removes-progressing-member
      if (!this.workStopped(view, m.memberId, now)) continue;
      dead.push({ memberId: m.memberId, instance: m.instance });
    }
    for (const d of dead) {
      this.missingSince.delete(d.memberId);
      this.partitionsOf.delete(d.memberId);
    }
    return { dead, foreign };
  }

  private samePipeline(id: MemberIdentity): boolean {
    return id.identity?.keyPrefix === this.o.identity.keyPrefix && id.identity.database === this.o.identity.database;
  }

  private forgetGone(view: SweepView): void {
    const present = new Set(view.members.map((m) => m.memberId));
    for (const map of [this.missingSince, this.partitionsOf]) for (const memberId of map.keys()) if (!present.has(memberId)) map.delete(memberId);
  }

  private foreign(view: SweepView): Verdict['foreign'] {
    const found: Verdict['foreign'] = [];
    for (const m of view.members) {
      const id = parseMemberClientId(m.clientId);
      if (!id || this.samePipeline(id) || this.reported.has(m.memberId)) continue;
      this.reported.add(m.memberId);
      const ours = this.o.identity;
      const mismatch = id.identity
        ? [
            id.identity.keyPrefix !== ours.keyPrefix ? `REDIS_KEY_PREFIX "${id.identity.keyPrefix}" (ours "${ours.keyPrefix}")` : '',
            id.identity.database !== ours.database ? `database ${id.identity.database} (ours ${ours.database})` : '',
          ]
            .filter(Boolean)
            .join(' and ')
        : 'no pipeline identity in its client id (an older version)';
      found.push({ memberId: m.memberId, clientId: m.clientId, mismatch });
    }
    return found;
  }

  private trackProgress(view: SweepView, now: number, wasWatching: boolean): void {
    for (const [partition, { committed }] of view.offsets) {
      const seen = this.committedSince.get(partition);
      // What was not watched cannot have been seen standing still.
      if (!seen || seen.offset !== committed || !wasWatching) this.committedSince.set(partition, { offset: committed, since: now });
    }
  }

  /**
   * Sign 2: the member's work has lag and has not moved for the grace. Its work: its partitions as the
   * last Stable view showed them; and while the group rebalances, every partition too (they all wait
   * for the rebalance, which waits for every member, even one that held nothing).
   */
  private workStopped(view: SweepView, memberId: string, now: number): boolean {
    if (this.stopped(view, this.partitionsOf.get(memberId) ?? [], now)) return true;
    return view.state !== 'Stable' && this.stopped(view, [...view.offsets.keys()], now);
  }

  /** Some of `partitions` lag, and none of those has moved for the grace. */
  private stopped(view: SweepView, partitions: readonly number[], now: number): boolean {
    let lagging = 0;
    for (const partition of partitions) {
      const o = view.offsets.get(partition);
      if (!o || o.end <= o.committed) continue;
      lagging += 1;
      const seen = this.committedSince.get(partition);
      if (!seen || now - seen.since < progressGraceMs(this.o.timing)) return false;
    }
    return lagging > 0;
  }
}

export interface SweepStats {
  recordDeadMemberRemoved(): void;
  /** A sweep that could not judge (Kafka or Redis failed); `consecutive` in a row so far. */
  recordSweepFailure(consecutive: number): void;
  recordSweepSuccess(): void;
}

export interface GhostReaperOptions {
  /** A connected admin client (the reaper does not own it). */
  admin: Admin & { removeGroupMember(request: { groupId: string; memberId: string }): Promise<void> };
  redis: RedisClient;
  groupId: string;
  topic: string;
  identity: PipelineIdentity;
  /** This process's member name (see `memberName`): never judged by itself. */
  self: string;
  timing: LivenessTiming;
  logger: Logger;
  stats: SweepStats;
  /** The monotonic clock, in ms. @defaultValue performance.now */
  now?: () => number;
}

/** Failed sweeps in a row after which a warning says that dead members are not being removed. */
export const SWEEP_FAILURES_WARNED = 3;

/** Removes the members of the group that are dead by the rule above. */
export class GhostReaper {
  private readonly judge: DeathJudge;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;
  private failures = 0;

  constructor(private readonly o: GhostReaperOptions) {
    this.now = o.now ?? (() => performance.now());
    this.judge = new DeathJudge({ timing: o.timing, identity: o.identity, self: o.self });
  }

  start(): void {
    const tick = () => {
      this.sweeping ??= this.sweep().finally(() => (this.sweeping = null));
    };
    // At once, too: a replacement started after a kill -9 sees the group before it joins, while the
    // dead member's partitions are still reported.
    tick();
    this.timer = setInterval(tick, this.o.timing.intervalMs);
    this.timer.unref();
  }

  /** Stops sweeping. A sweep under way is not waited for: with the broker down it may retry for long, and it removes only dead members. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One look at the group, judged; never throws (a failure is counted, and warned about when repeated). */
  async sweep(): Promise<void> {
    const startedAt = this.now();
    let view: SweepView;
    try {
      view = await this.look();
    } catch (error) {
      this.judge.failed(this.now());
      this.failed(error);
      return;
    }
    const verdict = this.judge.judge(view, this.now(), startedAt);
    for (const f of verdict.foreign)
      this.o.logger.warn(
        { memberId: f.memberId, clientId: f.clientId, group: this.o.groupId, mismatch: f.mismatch },
        `a member of another pipeline is in this group (${f.mismatch}): it is never removed by this one; give the pipelines separate consumer groups, or finish the change of configuration`,
      );
    try {
      // mutant: sweep-removes-nobody
      for (const d of verdict.dead) await this.remove(d);
    } catch (error) {
      this.failed(error);
      return;
    }
    if (view.leases === null) {
      this.failed(new Error('Redis could not be read'));
      return;
    }
    if (this.failures >= SWEEP_FAILURES_WARNED) this.o.logger.info({ failures: this.failures }, 'the dead-member sweep works again');
    this.failures = 0;
    this.o.stats.recordSweepSuccess();
  }

  /** The group, the judged members' leases (null if Redis failed) and the topic's progress. */
  private async look(): Promise<SweepView> {
    const { admin, groupId, topic } = this.o;
    const [{ groups }, progress] = await Promise.all([admin.describeGroups([groupId]), groupProgress(admin, groupId, topic)]);
    const group = groups[0];
    const state = group?.state ?? 'Dead';
    const members: SeenMember[] = (group?.members ?? []).map((m) => ({
      memberId: m.memberId,
      clientId: m.clientId,
      ...(state === 'Stable' ? { partitions: assignedPartitions(m.memberAssignment, topic) } : {}),
    }));
    const offsets = new Map([...progress.ends].map(([partition, end]) => [partition, { end, committed: progress.committed.get(partition) ?? 0 }]));
    const view = { state, members, offsets };
    const judged = this.judge.judged(view);
    let leases: Map<string, boolean> | null = new Map();
    if (judged.length > 0) {
      try {
        const exists = await Promise.all(judged.map((m) => this.o.redis.exists(leaseKey(this.o.identity.keyPrefix, m.name))));
        leases = new Map(judged.map((m, i) => [m.memberId, exists[i] === 1]));
      } catch (error) {
        this.o.logger.debug({ err: error }, 'could not read the liveness leases: nobody is judged, and the lease graces start over');
        leases = null;
      }
    }
    return { ...view, leases };
  }

  private failed(error: unknown): void {
    this.failures += 1;
    this.o.stats.recordSweepFailure(this.failures);
    if (this.failures === SWEEP_FAILURES_WARNED || this.failures % 60 === 0)
      this.o.logger.warn(
        { err: error, failures: this.failures },
        'dead-member removal is not working: the last sweeps of the group failed; a dead member now holds its partitions until its session runs out',
      );
    else this.o.logger.debug({ err: error }, 'could not sweep the group for dead members');
  }

  private async remove(m: { memberId: string; instance: string }): Promise<void> {
    try {
      await this.o.admin.removeGroupMember({ groupId: this.o.groupId, memberId: m.memberId });
    } catch (error) {
      // Gone already (its session ran out, or another member removed it): nothing to do.
      if ((error as { type?: string }).type === 'UNKNOWN_MEMBER_ID') return;
      throw error;
    }
    this.o.stats.recordDeadMemberRemoved();
    this.o.logger.warn(
      { memberId: m.memberId, process: m.instance },
      'removed a dead member from the group: its lease had gone and its partitions had stopped, so they need not wait for its session to run out',
    );
  }
}

function assignedPartitions(memberAssignment: Buffer, topic: string): number[] {
  if (memberAssignment.length === 0) return [];
  try {
    return AssignerProtocol.MemberAssignment.decode(memberAssignment)?.assignment[topic] ?? [];
  } catch {
    // Not a consumer assignment we can read (another protocol): it holds nothing of ours.
    return [];
  }
}
