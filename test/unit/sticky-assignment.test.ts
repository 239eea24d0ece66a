import { describe, expect, it } from 'vitest';
import { stickyAssign, type MemberState } from '../../consumers/sticky-assignment.js';

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
