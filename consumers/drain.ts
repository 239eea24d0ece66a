import { setTimeout as sleep } from 'node:timers/promises';

import type { Admin } from 'kafkajs';

import { RedemptionError } from '../lib/errors.js';
import { groupProgress } from '../lib/kafka.js';

/** Per partition: what the group has committed and what it must reach. */
export interface PartitionLag {
  partition: number;
  committed: number;
  target: number;
}

/**
 * A drain gave up with work undone: `--max-wait` ran out while the group still had messages to commit.
 * Its message names the remaining lag of each partition, so an operator sees where the work stopped.
 */
export class DrainIncompleteError extends RedemptionError {
  constructor(
    readonly groupId: string,
    readonly topic: string,
    readonly remaining: readonly PartitionLag[],
    waitedSeconds: number,
  ) {
    const total = remaining.reduce((sum, r) => sum + r.target - r.committed, 0);
    const list = remaining.map((r) => `partition ${r.partition}: ${r.target - r.committed} (committed ${r.committed} of ${r.target})`).join(', ');
    super('DRAIN_INCOMPLETE', `gave up after ${waitedSeconds} s: group ${groupId} still has ${total} messages of ${topic} to commit: ${list}`);
    this.name = 'DrainIncompleteError';
  }
}

export interface DrainOptions {
  admin: Admin;
  groupId: string;
  topic: string;
  /** Also wait until the member has had nothing to do for this long (0: only the group's progress counts). */
  idleSeconds: number;
  /** How long the member has had nothing to do, in ms (0 while it is busy or not in the group). */
  idleMs(): number;
  /** Per partition, the offset the group must have committed; default: the topic's end, read at each check. */
  targets?: ReadonlyMap<number, number>;
  /** Give up after this long, throwing DrainIncompleteError; default: wait as long as it takes. */
  maxWaitSeconds?: number;
  /** Stop waiting (resolving false) once this settles: a signal. */
  abandon?: Promise<unknown>;
  pollMs?: number;
}

/** The partitions whose committed offset is short of their target. */
export async function remainingLag(admin: Admin, groupId: string, topic: string, targets?: ReadonlyMap<number, number>): Promise<PartitionLag[]> {
  const progress = await groupProgress(admin, groupId, topic);
  const goal = targets ?? progress.ends;
  const remaining: PartitionLag[] = [];
  for (const [partition, target] of [...goal].sort(([a], [b]) => a - b)) {
    const committed = progress.committed.get(partition) ?? 0;
    if (committed < target) remaining.push({ partition, committed, target });
  }
  return remaining;
}

/**
 * Waits until the work is done, not merely until this member is idle: the group has committed every
 * partition up to its target (the topic's end, by default) AND the member has had nothing to do for
 * `idleSeconds`. A member that holds only some partitions (another member, or a ghost, holds the
 * rest) therefore keeps waiting while their messages are undone. Resolves true when drained, false
 * when abandoned; throws DrainIncompleteError when `maxWaitSeconds` runs out.
 */
export async function waitForDrain(o: DrainOptions): Promise<boolean> {
  const started = Date.now();
  const deadline = o.maxWaitSeconds === undefined ? Infinity : started + o.maxWaitSeconds * 1000;
  let abandoned = false;
  void o.abandon?.then(
    () => (abandoned = true),
    () => (abandoned = true),
  );
  const pollMs = o.pollMs ?? 250;
  for (;;) {
    if (abandoned) return false;
    // Ask the broker only once the member itself is idle: a busy member is not done.
    if (o.idleMs() >= o.idleSeconds * 1000 && (await remainingLag(o.admin, o.groupId, o.topic, o.targets)).length === 0) return true;
    if (Date.now() >= deadline) {
      throw new DrainIncompleteError(o.groupId, o.topic, await remainingLag(o.admin, o.groupId, o.topic, o.targets), Math.round((Date.now() - started) / 1000));
    }
    await sleep(pollMs);
  }
}
