import { describe, expect, it } from 'vitest';

import { latencyRuns } from '../../bench/stages/latency.js';

describe("the latency series' runs", () => {
  it('gives every run a namespace of its own, also when two offer the same rate', () => {
    const runs = latencyRuns({ loadFractions: [0.25, 0.5], rates: [9000, 9000, 5000], latencyWhatIf: { FLUSH_CONCURRENCY: '1' } }, 20_000);
    expect(runs.map((r) => [r.name, r.rate, r.fraction])).toEqual([
      ['lat5000', 5000, 0.25],
      ['lat10000', 10000, 0.5],
      ['lat9000', 9000, null],
      ['lat9000_2', 9000, null],
      ['lat5000_2', 5000, null],
      ['whatif', 10000, null],
    ]);
    expect(new Set(runs.map((r) => r.name)).size).toBe(runs.length);
    // The name is part of the run's MySQL database name: letters, digits and "_" only.
    for (const r of runs) expect(r.name).toMatch(/^\w+$/);
    expect(runs.at(-1)!.settings).toEqual({ FLUSH_CONCURRENCY: '1' });
  });

  it('has no what-if run without settings, and no fraction run without fractions', () => {
    expect(latencyRuns({ loadFractions: [], rates: [300], latencyWhatIf: {} }, 0)).toEqual([{ name: 'lat300', rate: 300, fraction: null }]);
  });
});
