import pino from 'pino';
import { describe, expect, it } from 'vitest';

import { OffsetCommitter, type OffsetCommitterOptions } from '../../consumers/offset-committer.js';

type Offsets = Parameters<OffsetCommitterOptions['commit']>[0];

function harness(intervalMs: number, owned = new Set([0, 1, 2])) {
  const commits: Offsets[] = [];
  const release: ((error?: Error) => void)[] = [];
  const committer = new OffsetCommitter({
    commit: (offsets) => {
      commits.push(offsets);
      return new Promise<void>((resolve, reject) => release.push((error) => (error ? reject(error) : resolve())));
    },
    owns: (_topic, partition) => owned.has(partition),
    intervalMs,
    logger: pino({ level: 'silent' }),
  });
  return { committer, commits, release, owned };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('offset committer', () => {
  it('commits in the background, one commit at a time, covering every flush since the last', async () => {
    const h = harness(0);
    h.committer.flushed('t', 0, 10, 10);
    await sleep(5);
    expect(h.commits).toEqual([[{ topic: 't', partition: 0, offset: '10' }]]);
    // While that commit is in flight, three flushes end: one commit carries the latest offset of each partition.
    h.committer.flushed('t', 0, 20, 10);
    h.committer.flushed('t', 1, 5, 5);
    h.committer.flushed('t', 0, 30, 10);
    await sleep(5);
    expect(h.commits).toHaveLength(1);
    h.release.shift()!();
    await sleep(5);
    expect(h.commits[1]).toEqual([
      { topic: 't', partition: 0, offset: '30' },
      { topic: 't', partition: 1, offset: '5' },
    ]);
    h.release.shift()!();
    await sleep(5);
    expect(h.committer.hasPending()).toBe(false);
  });

  it('puts back no offset of a failed commit whose partition a join took away meanwhile, even if a later one gave it back', async () => {
    const h = harness(0);
    h.committer.flushed('t', 0, 10, 10);
    h.committer.flushed('t', 2, 40, 40);
    await sleep(5);
    expect(h.commits).toHaveLength(1);
    // While the commit is in flight, a join takes partition 2 (another member decides it on), and a
    // later join gives it back; then the commit fails (refused for the rebalance).
    h.owned.delete(2);
    h.committer.retainOnly();
    h.owned.add(2);
    h.committer.retainOnly();
    h.release.shift()!(new Error('REBALANCE_IN_PROGRESS'));
    await sleep(5);
    // Partition 0 stayed this member's: its offset goes again. Partition 2's (40) would move the group
    // back behind what the other member committed.
    expect(h.commits[1]).toEqual([{ topic: 't', partition: 0, offset: '10' }]);
    h.release.shift()!();
    await sleep(5);
    expect(h.committer.hasPending()).toBe(false);
  });

  it('starts a commit at most `intervalMs` after a flush', async () => {
    const h = harness(60);
    h.committer.flushed('t', 0, 10, 10);
    await sleep(5);
    expect(h.commits).toHaveLength(1);
    h.release.shift()!();
    await sleep(5);
    h.committer.flushed('t', 0, 20, 10);
    await sleep(20);
    expect(h.commits).toHaveLength(1);
    await sleep(60);
    expect(h.commits).toHaveLength(2);
  });

  it('keeps the offsets of a failed commit for the next one, never moving an offset back', async () => {
    const h = harness(0);
    h.committer.flushed('t', 0, 10, 10);
    await sleep(5);
    h.committer.flushed('t', 0, 20, 10);
    h.release.shift()!(new Error('coordinator moved'));
    await sleep(5);
    expect(h.commits[1]).toEqual([{ topic: 't', partition: 0, offset: '20' }]);
    h.release.shift()!();
    await sleep(5);
    h.committer.flushed('t', 0, 15, 1);
    await sleep(5);
    expect(h.commits).toHaveLength(2);
  });

  it('commits only partitions the member owns; after a rejoin forgets those it lost', async () => {
    const h = harness(0, new Set([0]));
    h.committer.flushed('t', 1, 10, 10);
    await sleep(5);
    expect(h.commits).toEqual([]);
    expect(h.committer.hasPending()).toBe(false);
    h.owned.add(1);
    h.committer.retainOnly();
    await sleep(5);
    expect(h.commits).toEqual([[{ topic: 't', partition: 1, offset: '10' }]]);
  });

  it('a flush that ends between leaving the group and the next join: committed if the join keeps its partition, never if another member had it in between', async () => {
    // Left the group (crashed out, or unknown to the coordinator): the member owns nothing until it joins.
    const h = harness(0, new Set());
    h.committer.flushed('t', 0, 10, 10);
    h.committer.flushed('t', 1, 20, 20);
    await sleep(5);
    expect(h.commits).toEqual([]);
    // The join keeps partition 0 and gives partition 1 to another member.
    h.owned.add(0);
    h.committer.retainOnly();
    await sleep(5);
    expect(h.commits).toEqual([[{ topic: 't', partition: 0, offset: '10' }]]);
    h.release.shift()!();
    // A later join gives partition 1 back: its owner in between may have committed past 20, so 20 stays unsent.
    h.owned.add(1);
    h.committer.retainOnly();
    await sleep(5);
    expect(h.commits).toHaveLength(1);
    expect(h.committer.hasPending()).toBe(false);
  });

  it('commitNow waits for the commit in flight, then commits what is left, and rejects if it fails', async () => {
    const h = harness(1000);
    h.committer.flushed('t', 0, 10, 10);
    await sleep(5);
    h.committer.flushed('t', 0, 20, 10);
    const now = h.committer.commitNow();
    h.release.shift()!();
    await sleep(5);
    expect(h.commits[1]).toEqual([{ topic: 't', partition: 0, offset: '20' }]);
    h.release.shift()!(new Error('broker down'));
    await expect(now).rejects.toThrow('broker down');
  });
});
