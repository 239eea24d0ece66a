/**
 * Sticky partition assignment as a pure function. Every member gets floor or ceil of its fair share
 * of each topic's partitions; a member keeps the partitions it owned (up to its share) so its warm
 * state and in-flight work stay put, and only the surplus moves. A member joining takes only its share;
 * a member leaving hands only its own partitions on.
 */
export type Ownership = Map<string, number[]>;

export interface MemberState {
  memberId: string;
  /** topic → partitions this member owned before the rebalance */
  owned: Ownership;
  /** The process behind the member (its consumer id), when the member says. */
  instance?: string;
  /** Which of that process's join attempts this member id comes from: higher is later. */
  attempt?: number;
}

/**
 * The members that have proven themselves alive in this generation, where the leader can tell. One
 * process can appear under several member ids: a join that failed (a request timed out, the member
 * crashed and KafkaJS restarted it) is retried under a new member id, and the broker keeps the old one
 * until its session expires. Only the process's latest attempt will ever sync and fetch; an earlier
 * one is a ghost, and partitions given to it would sit unread until its session ends. So ghosts get no
 * partitions, and their ownership claims (stale by definition) are ignored. A dead process's member
 * cannot be told from a live one here; the short session timeout bounds what it costs.
 */
export function liveMembers(members: readonly MemberState[]): { live: MemberState[]; ghosts: MemberState[] } {
  const latest = new Map<string, MemberState>();
  for (const m of members) {
    if (m.instance === undefined) continue;
    const other = latest.get(m.instance);
    if (!other || later(m, other)) latest.set(m.instance, m);
  }
  const live: MemberState[] = [];
  const ghosts: MemberState[] = [];
  for (const m of members) (m.instance === undefined || latest.get(m.instance) === m ? live : ghosts).push(m);
  return { live, ghosts };
}

function later(a: MemberState, b: MemberState): boolean {
  const byAttempt = (a.attempt ?? 0) - (b.attempt ?? 0);
  return byAttempt !== 0 ? byAttempt > 0 : a.memberId.localeCompare(b.memberId) > 0;
}

export function stickyAssign(members: readonly MemberState[], partitionsByTopic: ReadonlyMap<string, readonly number[]>): Map<string, Ownership> {
  const result = new Map<string, Ownership>(members.map((m) => [m.memberId, new Map()]));
  if (members.length === 0) return result;
  const ordered = [...members].sort((a, b) => a.memberId.localeCompare(b.memberId));
  for (const [topic, partitions] of partitionsByTopic) {
    const base = Math.floor(partitions.length / ordered.length);
    let extra = partitions.length % ordered.length;
    // Members that already own more get the "+1" slots first, so fewer partitions move.
    const byOwned = [...ordered].sort((a, b) => (b.owned.get(topic)?.length ?? 0) - (a.owned.get(topic)?.length ?? 0));
    const quota = new Map<string, number>();
    for (const m of byOwned) {
      quota.set(m.memberId, base + (extra > 0 ? 1 : 0));
      if (extra > 0) extra -= 1;
    }
    const valid = new Set(partitions);
    const taken = new Set<number>();
    const assigned = new Map<string, number[]>(ordered.map((m) => [m.memberId, []]));
    for (const m of ordered) {
      for (const partition of [...(m.owned.get(topic) ?? [])].sort((a, b) => a - b)) {
        const mine = assigned.get(m.memberId)!;
        if (valid.has(partition) && !taken.has(partition) && mine.length < quota.get(m.memberId)!) {
          mine.push(partition);
          taken.add(partition);
        }
      }
    }
    const free = partitions.filter((p) => !taken.has(p)).sort((a, b) => a - b);
    for (const m of ordered) {
      const mine = assigned.get(m.memberId)!;
      while (mine.length < quota.get(m.memberId)! && free.length > 0) mine.push(free.shift()!);
    }
    for (const [memberId, mine] of assigned)
      if (mine.length > 0)
        result.get(memberId)!.set(
          topic,
          mine.sort((a, b) => a - b),
        );
  }
  return result;
}
