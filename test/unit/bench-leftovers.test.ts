import { describe, expect, it } from 'vitest';

import { benchRunOf, describeLeftover, groupByRun } from '../../bench/leftovers.js';

describe("a bench run's leftovers, by name", () => {
  it("finds a run's id in its topics and databases, and nothing in names that only look alike", () => {
    expect(benchRunOf('bench-3fa9c0.requested', 'topic')).toBe('3fa9c0');
    expect(benchRunOf('bench-3fa9c0-c1.decided', 'topic')).toBe('3fa9c0');
    expect(benchRunOf('bench-3fa9c0-c1.requested.dlq', 'topic')).toBe('3fa9c0');
    expect(benchRunOf('bench_3fa9c0_c1', 'database')).toBe('3fa9c0');
    expect(benchRunOf('bench-3fa9c0-c1.decided-value', 'subject')).toBe('3fa9c0');
    expect(benchRunOf('benchmark-3fa9c0.requested-value', 'subject')).toBeNull();
    // Not a bench run's: another prefix, an id of another length or alphabet, the other kind's form.
    for (const topic of ['benchmark-3fa9c0.requested', 'bench-3fa9c01.requested', 'bench-3FA9C0.requested', 'bench_3fa9c0_c1', 'redemption.requested'])
      expect(benchRunOf(topic, 'topic'), topic).toBeNull();
    for (const database of ['bench_3fa9c0', 'bench_3fa9c0x_c1', 'bench-3fa9c0_c1', 'redemptions', 'benchmarks_3fa9c0_c1'])
      expect(benchRunOf(database, 'database'), database).toBeNull();
  });

  it('groups the names by run, in id order, and leaves every other name out', () => {
    const runs = groupByRun(
      ['redemption.requested', 'bench-b00000-c1.decided', 'bench-a00000.requested', 'bench-b00000.requested', 'bench-a00000-lat1.decided'],
      ['redemptions', 'bench_b00000_c1', 'bench_b00000_c2', 'bench_c00000_peer'],
      ['redemption.requested-value', 'bench-d00000.requested-value', 'bench-b00000.requested-value'],
    );
    expect(runs).toEqual([
      { id: 'a00000', topics: ['bench-a00000-lat1.decided', 'bench-a00000.requested'], databases: [], subjects: [] },
      {
        id: 'b00000',
        topics: ['bench-b00000-c1.decided', 'bench-b00000.requested'],
        databases: ['bench_b00000_c1', 'bench_b00000_c2'],
        subjects: ['bench-b00000.requested-value'],
      },
      { id: 'c00000', topics: [], databases: ['bench_c00000_peer'], subjects: [] },
      // A run whose topics and databases are gone but whose subjects stayed (every run's, before they were removed).
      { id: 'd00000', topics: [], databases: [], subjects: ['bench-d00000.requested-value'] },
    ]);
    expect(describeLeftover(runs[2]!)).toBe('bench-c00000: 0 topics, 1 database, 0 registry subjects (bench_c00000_peer)');
    expect(groupByRun([], [])).toEqual([]);
  });
});
