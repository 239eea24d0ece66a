import { describe, expect, it } from 'vitest';

import { histogramsBetween, parseHistograms, windowLatency } from '../../bench/metrics-window.js';
import { ConsumerStats } from '../../consumers/consumer-stats.js';
import { StageHistogram } from '../../consumers/stage-histogram.js';

/** Feeds the stages as flushes would: each observation carries its flush's requests. */
function feed(stages: StageHistogram, flushes: readonly { mysql: number; queued: number; requests: number }[]): void {
  for (const f of flushes) {
    stages.observe('mysql', f.mysql, f.requests);
    stages.observe('queued', f.queued, f.requests);
  }
}

describe('a window of a running consumer, read from its /metrics', () => {
  it("is the consumer's account of what it did between two reads only", async () => {
    const stats = new ConsumerStats();
    // The warm-up: slow flushes that must not count.
    const warmup = [
      { mysql: 0.4, queued: 0.9, requests: 50 },
      { mysql: 0.25, queued: 0.3, requests: 20 },
    ];
    const measured = [
      { mysql: 0.004, queued: 0.001, requests: 30 },
      { mysql: 0.012, queued: 0.0002, requests: 10 },
      { mysql: 0.003, queued: 0.002, requests: 25 },
    ];
    feed(stats.stages, warmup);
    const before = parseHistograms(await stats.registry.metrics());
    feed(stats.stages, measured);
    const after = parseHistograms(await stats.registry.metrics());

    const alone = new StageHistogram();
    feed(alone, measured);
    const window = windowLatency(histogramsBetween(before, after));
    for (const stage of ['mysql', 'queued'] as const) {
      const { mean, p50, p99 } = alone.summary(stage);
      expect(window.stages[stage]).toEqual({ mean, p50, p99 });
    }
    // The whole life, for contrast: the warm-up's 0.4 s flush is in its p99.
    expect(stats.stages.summary('mysql').p99).toBeGreaterThan(200);
    expect(window.stages.mysql!.p99).toBeLessThan(20);
    // Stages nothing was observed in during the window are left out; no request ended in it either.
    expect(window.stages.kafka).toBeUndefined();
    expect(window.endToEnd).toBeNull();
  });

  it('reads cumulative buckets into per-bucket counts', () => {
    const text = [
      '# TYPE redeem_stage_mysql_seconds histogram',
      'redeem_stage_mysql_seconds_bucket{le="0.0005"} 2',
      'redeem_stage_mysql_seconds_bucket{le="0.001"} 5',
      'redeem_stage_mysql_seconds_bucket{le="+Inf"} 9',
      'redeem_stage_mysql_seconds_sum 1.5',
      'redeem_stage_mysql_seconds_count 9',
      'redeem_messages_total 9',
    ].join('\n');
    const h = parseHistograms(text).get('redeem_stage_mysql_seconds')!;
    expect(Array.from(h.counts).slice(0, 3)).toEqual([2, 3, 0]);
    expect(Array.from(h.counts).reduce((a, b) => a + b, 0)).toBe(9);
    expect(h.sum).toBe(1.5);
    expect(h.count).toBe(9);
  });
});
