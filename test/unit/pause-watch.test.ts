import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';

import { parseConsumerSummary } from '../../bench/consumer-summary.js';
import { formatPauses, PauseWatch } from '../../consumers/pause-watch.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the consumer's pause watch", () => {
  it('sees the event loop blocked, in its summary and in /metrics', async () => {
    const registry = new Registry();
    const watch = new PauseWatch(registry);
    try {
      await sleep(100);
      const blockedUntil = Date.now() + 80;
      while (Date.now() < blockedUntil) {
        // The event loop is held, as a long synchronous piece of work or a GC pause would hold it.
      }
      await sleep(60);
      const { loopDelay } = watch.summary();
      expect(loopDelay.max).toBeGreaterThanOrEqual(50);
      expect(loopDelay.p50).toBeLessThan(loopDelay.max);
      // In ms to two decimals, as the summary prints them.
      for (const v of Object.values(loopDelay)) expect(Math.round(v * 100) / 100).toBe(v);
      const metrics = await registry.metrics();
      const max = Number(/redeem_event_loop_delay_seconds\{quantile="1"\} ([\d.e-]+)/.exec(metrics)?.[1]);
      expect(max).toBeGreaterThanOrEqual(0.05);
      expect(metrics).toContain('# TYPE redeem_gc_pause_seconds_total counter');
    } finally {
      watch.stop();
    }
  });

  it('prints the line the bench reads back', () => {
    const line = `pauses       ${formatPauses({ loopDelay: { p50: 1.05, p99: 20.3, max: 45 }, gcTotalMs: 812, gcMajorMaxMs: 23.5, utilization: 0.412 })}`;
    expect(parseConsumerSummary(`resources    cpu 1.00 s, peak RSS 100.0 MiB\n${line}`).pauses).toEqual({
      loopDelayP50: 1.05,
      loopDelayP99: 20.3,
      loopDelayMax: 45,
      busy: 0.41,
      gcMs: 812,
      gcMajorMaxMs: 23.5,
    });
    expect(parseConsumerSummary('resources    cpu 1.00 s, peak RSS 100.0 MiB').pauses).toBeNull();
  });
});
