import type { Admin } from 'kafkajs';
import type { Logger } from 'pino';

import { type RedisClient, redisReady } from '../lib/redis.js';

/**
 * How members of the group tell a dead member from a live one within seconds, not a session.
 *
 * The coordinator learns that a member died only when its session runs out (10 s). Until then a dead
 * member holds its partitions unread; after a crash loop, dead processes whose JoinGroup was parked at
 * the coordinator are carried into the next generation, may be chosen to lead it, and the live members
 * wait in SyncGroup for an assignment that never comes, one dead generation after another.
 *
 * So every member keeps a lease in Redis (refreshed each heartbeat interval, lasting three) and names
 * its process in its Kafka client id, which the coordinator reports for every member in every group
 * state. Each member sweeps the group each heartbeat interval; a member whose process has held no lease
 * for a grace period is removed with a LeaveGroup on its behalf. Only members that keep leases are ever
 * judged (other clients and older versions are left to their sessions), and nothing is judged while
 * Redis cannot be read. A live member removed by mistake (its Redis writes failing for seconds) only
 * rejoins: a rebalance, never a lost or doubled request.
 */

const CLIENT_ID_PREFIX = 'redeem-member~';

/** The Kafka client id of a group member of the process `instance` (see `newConsumerId`). */
export function memberClientId(instance: string): string {
  return `${CLIENT_ID_PREFIX}${instance}`;
}

/** The process a member belongs to, if it keeps a lease; undefined for any other client. */
export function leaseHolder(clientId: string): string | undefined {
  return clientId.startsWith(CLIENT_ID_PREFIX) && clientId.length > CLIENT_ID_PREFIX.length ? clientId.slice(CLIENT_ID_PREFIX.length) : undefined;
}

/** The lease's Redis key; the hash tag keeps each key in one slot of a Redis Cluster. */
export function leaseKey(prefix: string, instance: string): string {
  return `${prefix}:alive:{${instance}}`;
}

export interface LivenessTiming {
  /** How often the lease is refreshed and the group swept (the heartbeat interval). */
  intervalMs: number;
}

/** A lease lasts three intervals; a member is judged dead after two sweeps an interval apart or more found none. */
export function leaseTtlMs(t: LivenessTiming): number {
  return 3 * t.intervalMs;
}

export function deathGraceMs(t: LivenessTiming): number {
  return 2 * t.intervalMs;
}

/** This process's proof of life. */
export class MemberLease {
  private timer: NodeJS.Timeout | null = null;
  private warned = false;

  constructor(private readonly o: { redis: RedisClient; key: string; timing: LivenessTiming; logger: Logger }) {}

  async start(): Promise<void> {
    // The client connects lazily and queues nothing offline; a Redis that is down must not hold up the
    // start (the member then waits for its session like any other), so wait a little, then go on.
    await redisReady(this.o.redis, 2000).catch(() => {});
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.o.timing.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    // A member that leaves cleanly needs no judging; the key would expire anyway.
    await this.o.redis.del(this.o.key).catch(() => {});
  }

  private async refresh(): Promise<void> {
    try {
      await this.o.redis.set(this.o.key, String(Date.now()), 'PX', leaseTtlMs(this.o.timing));
      this.warned = false;
    } catch (error) {
      // Once per outage: peers cannot judge anyone while Redis is down, and the session still bounds it.
      if (!this.warned) this.o.logger.warn({ err: error }, 'could not refresh the liveness lease in Redis');
      this.warned = true;
    }
  }
}

export interface GhostReaperOptions {
  /** A connected admin client (the reaper does not own it). */
  admin: Admin & { removeGroupMember(request: { groupId: string; memberId: string }): Promise<void> };
  redis: RedisClient;
  groupId: string;
  keyPrefix: string;
  timing: LivenessTiming;
  logger: Logger;
  onRemoved(): void;
}

/** Removes the members of the group whose process has stopped proving it is alive. */
export class GhostReaper {
  /** Member id → when a sweep first found its process without a lease. */
  private readonly missingSince = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;

  constructor(private readonly o: GhostReaperOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      this.sweeping ??= this.sweep()
        .catch((error: unknown) => this.o.logger.debug({ err: error }, 'could not sweep the group for dead members'))
        .finally(() => (this.sweeping = null));
    }, this.o.timing.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.sweeping;
  }

  /** One look at the group: judges every lease-keeping member, removes those dead past the grace period. */
  async sweep(now: () => number = Date.now): Promise<void> {
    const { groups } = await this.o.admin.describeGroups([this.o.groupId]);
    const members = (groups[0]?.members ?? []).flatMap((m) => {
      const instance = leaseHolder(m.clientId);
      return instance === undefined ? [] : [{ memberId: m.memberId, instance }];
    });
    const present = new Set(members.map((m) => m.memberId));
    for (const memberId of this.missingSince.keys()) if (!present.has(memberId)) this.missingSince.delete(memberId);
    if (members.length === 0) return;
    // Any Redis failure throws here: nobody is judged on a lease that could not be read.
    const alive = await Promise.all(members.map((m) => this.o.redis.exists(leaseKey(this.o.keyPrefix, m.instance))));
    for (const [i, m] of members.entries()) {
      if (alive[i] === 1) {
        this.missingSince.delete(m.memberId);
        continue;
      }
      const since = this.missingSince.get(m.memberId) ?? now();
      this.missingSince.set(m.memberId, since);
      if (now() - since < deathGraceMs(this.o.timing)) continue;
      this.missingSince.delete(m.memberId);
      await this.remove(m);
    }
  }

  private async remove(m: { memberId: string; instance: string }): Promise<void> {
    try {
      await this.o.admin.removeGroupMember({ groupId: this.o.groupId, memberId: m.memberId });
    } catch (error) {
      // Gone already (its session ran out, or another member removed it): nothing to do.
      if ((error as { type?: string }).type === 'UNKNOWN_MEMBER_ID') return;
      throw error;
    }
    this.o.onRemoved();
    this.o.logger.warn(
      { memberId: m.memberId, process: m.instance },
      'removed a dead member from the group: its process stopped refreshing its liveness lease, so its partitions need not wait for its session to run out',
    );
  }
}
