import { AssignerProtocol } from 'kafkajs';
import { describe, expect, it } from 'vitest';

import { decodeClaim, stickyAssignor } from '../../consumers/sticky-assignor.js';
import { liveMembers, type MemberState, stickyAssign } from '../../consumers/sticky-plan.js';

const topic = 't';
const six = new Map([[topic, [0, 1, 2, 3, 4, 5]]]);
const member = (memberId: string, owned: number[] = []): MemberState => ({ memberId, owned: new Map(owned.length ? [[topic, owned]] : []) });
const of = (plan: Map<string, Map<string, number[]>>, id: string) => plan.get(id)!.get(topic) ?? [];

describe('sticky assignment', () => {
  it('spreads partitions evenly among new members', () => {
    const plan = stickyAssign([member('a'), member('b'), member('c')], six);
    expect([of(plan, 'a'), of(plan, 'b'), of(plan, 'c')].map((p) => p.length)).toEqual([2, 2, 2]);
    expect([...of(plan, 'a'), ...of(plan, 'b'), ...of(plan, 'c')].sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('a member joining takes only its share; the others keep theirs', () => {
    const plan = stickyAssign([member('a', [0, 1, 2]), member('b', [3, 4, 5]), member('c')], six);
    expect(of(plan, 'a')).toEqual([0, 1]);
    expect(of(plan, 'b')).toEqual([3, 4]);
    expect(of(plan, 'c')).toEqual([2, 5]);
  });

  it('a member leaving hands on only its own partitions', () => {
    const plan = stickyAssign([member('a', [0, 1]), member('c', [2, 5])], six);
    expect(of(plan, 'a')).toEqual([0, 1, 3]);
    expect(of(plan, 'c')).toEqual([2, 4, 5]);
  });

  it('never assigns a partition twice, even when members claim the same one', () => {
    const plan = stickyAssign([member('a', [0, 1, 2]), member('b', [0, 1, 2])], six);
    const all = [...of(plan, 'a'), ...of(plan, 'b')].sort();
    expect(all).toEqual([0, 1, 2, 3, 4, 5]);
    expect(of(plan, 'a')).toEqual([0, 1, 2]);
  });

  it('ignores partitions that no longer exist', () => {
    const plan = stickyAssign([member('a', [0, 9])], new Map([[topic, [0, 1]]]));
    expect(of(plan, 'a')).toEqual([0, 1]);
  });
});

describe('ghost members', () => {
  const attempt = (memberId: string, instance: string, n: number, owned: number[] = []): MemberState => ({ ...member(memberId, owned), instance, attempt: n });

  it('only the latest join attempt of a process is alive; earlier ones get nothing and their claims are ignored', () => {
    const members = [attempt('m-old', 'proc-1', 3, [0, 1, 2]), attempt('m-new', 'proc-1', 5), attempt('m-other', 'proc-2', 1, [3, 4, 5])];
    const { live, ghosts } = liveMembers(members);
    expect(ghosts.map((g) => g.memberId)).toEqual(['m-old']);
    const plan = stickyAssign(live, six);
    expect(plan.has('m-old')).toBe(false);
    expect([...of(plan, 'm-new'), ...of(plan, 'm-other')].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(of(plan, 'm-other')).toEqual([3, 4, 5]);
  });

  it('members that do not say which process they are all count as alive', () => {
    expect(liveMembers([member('a'), member('b')]).ghosts).toEqual([]);
  });

  it('reads the join metadata of both versions', () => {
    const v1 = AssignerProtocol.MemberMetadata.encode({ version: 1, topics: [topic], userData: Buffer.from(JSON.stringify({ t: [1, 2] })) });
    expect(decodeClaim(v1)).toEqual({ owned: new Map([[topic, [1, 2]]]) });
    const v2 = AssignerProtocol.MemberMetadata.encode({
      version: 1,
      topics: [topic],
      userData: Buffer.from(JSON.stringify({ v: 2, owned: { t: [3] }, instance: 'p', attempt: 4 })),
    });
    expect(decodeClaim(v2)).toEqual({ owned: new Map([[topic, [3]]]), instance: 'p', attempt: 4 });
  });

  it('counts join attempts and reports the current ownership in its metadata', () => {
    let owned = new Map([[topic, [0]]]);
    const assigner = stickyAssignor(() => owned, 'proc-9')({ cluster: {} as never, groupId: 'g', logger: {} as never });
    const first = decodeClaim(assigner.protocol({ topics: [topic] }).metadata);
    owned = new Map();
    const second = decodeClaim(assigner.protocol({ topics: [topic] }).metadata);
    expect(first).toEqual({ owned: new Map([[topic, [0]]]), instance: 'proc-9', attempt: 1 });
    expect(second).toEqual({ owned: new Map(), instance: 'proc-9', attempt: 2 });
  });
});
