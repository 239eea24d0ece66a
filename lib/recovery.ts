import { setTimeout as sleep } from 'node:timers/promises';

import type { Admin } from 'kafkajs';

import { type GroupProgress, groupProgress } from './kafka.js';

/**
 * Time to recover from a fault, as the group shows it: from the moment the fault struck until every
 * partition that has work (messages past its committed offset) has had its committed offset move on.
 * A partition whose member was killed stays put until the group has noticed and handed it on, so this
 * is the longest stall any partition went through. Resolves with the milliseconds, or null if some
 * partition did not move within `timeoutMs`. The broker may itself be the fault (restarting): a failed
 * look at the group's offsets is retried until the deadline.
 */
export async function timeToRecover(admin: Admin, groupId: string, topic: string, struckAt: number, timeoutMs: number, pollMs = 250): Promise<number | null> {
  const deadline = struckAt + timeoutMs;
  const look = async (): Promise<GroupProgress | null> => {
    while (Date.now() < deadline) {
      try {
        return await groupProgress(admin, groupId, topic);
      } catch {
        await sleep(pollMs);
      }
    }
    return null;
  };
  const before = await look();
  if (!before) return null;
  const waiting = new Set([...before.ends].filter(([partition, end]) => end > (before.committed.get(partition) ?? 0)).map(([partition]) => partition));
  while (Date.now() < deadline) {
    const now = await look();
    if (!now) return null;
    for (const partition of [...waiting]) {
      if ((now.committed.get(partition) ?? 0) > (before.committed.get(partition) ?? 0)) waiting.delete(partition);
    }
    // A partition that had no work at the fault counts once it gets work and that work is committed.
    for (const [partition, end] of now.ends) {
      const committed = now.committed.get(partition) ?? 0;
      if (!waiting.has(partition) && end > committed && committed === (before.committed.get(partition) ?? 0)) waiting.add(partition);
    }
    if (waiting.size === 0) return Date.now() - struckAt;
    // Nothing left to do at all (the load has stopped and all is committed): recovered.
    if (now.lag === 0) return Date.now() - struckAt;
    await sleep(pollMs);
  }
  return null;
}
