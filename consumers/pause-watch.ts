/**
 * How long the consumer's one thread could not run what was due: the event loop's delay (a timer every
 * 20 ms, and how late it ran) and V8's garbage-collection pauses by kind. Every stage of a request
 * (stage-histogram.ts) waits through such a pause, so a tail that every stage shares at once is either
 * here (this process was busy, or not scheduled on a busy host) or it is not. Exported as
 * redeem_event_loop_delay_seconds (p50, p99, max since start) and redeem_gc_pause_seconds_total by kind,
 * and printed in the consumer's summary, which the bench reads. The 20 ms timer is work an idle member
 * does too: about 3 ms of CPU a second (an otherwise idle Node process: 5.3-6.5 ms/s with it, 2.9
 * without), against the 20-odd ms/s an idle member's fetches and heartbeats cost.
 */
import { constants, type EventLoopUtilization, monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';

import { Counter, Gauge, type Registry } from 'prom-client';

/** V8's collection kinds, as perf_hooks numbers them. */
const GC_KINDS: ReadonlyMap<number, string> = new Map([
  [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
]);

/** The timer's period: Node records the time between its runs, so a run on time records this much. */
const RESOLUTION_MS = 20;

export interface PauseSummary {
  /** the event loop's delay, ms (p50, p99, max since start) */
  loopDelay: { p50: number; p99: number; max: number };
  /** garbage-collection pauses, ms: their total, and the longest major one */
  gcTotalMs: number;
  gcMajorMaxMs: number;
  /** the share of the time the event loop was busy since start (0-1) */
  utilization: number;
}

export class PauseWatch {
  private readonly delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private readonly gcMs = new Map<string, number>();
  private gcMajorMaxMs = 0;
  private readonly observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      // A 'gc' entry carries its kind in `detail` (Node >= 16), which the PerformanceEntry type lacks.
      const { detail } = entry as PerformanceEntry & { detail?: { kind?: number } };
      const kind = GC_KINDS.get(detail?.kind ?? -1) ?? 'other';
      this.gcMs.set(kind, (this.gcMs.get(kind) ?? 0) + entry.duration);
      if (kind === 'major') this.gcMajorMaxMs = Math.max(this.gcMajorMaxMs, entry.duration);
    }
  });
  private readonly startUtilization: EventLoopUtilization = performance.eventLoopUtilization();

  constructor(registry: Registry) {
    this.delay.enable();
    this.observer.observe({ entryTypes: ['gc'] });
    const summary = () => this.summary();
    const gcMs = this.gcMs;
    new Gauge({
      name: 'redeem_event_loop_delay_seconds',
      help: 'How late the event loop ran a 20 ms timer since the process started (this process busy, or not scheduled), by quantile',
      labelNames: ['quantile'] as const,
      registers: [registry],
      collect() {
        const { loopDelay } = summary();
        this.set({ quantile: '0.5' }, loopDelay.p50 / 1000);
        this.set({ quantile: '0.99' }, loopDelay.p99 / 1000);
        this.set({ quantile: '1' }, loopDelay.max / 1000);
      },
    });
    new Counter({
      name: 'redeem_gc_pause_seconds_total',
      help: 'Time V8 paused this process to collect garbage, by kind of collection',
      labelNames: ['kind'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [kind, ms] of gcMs) this.inc({ kind }, ms / 1000);
      },
    });
  }

  summary(): PauseSummary {
    // The histogram is in ns, each sample the time between two runs of the timer: its lateness is what
    // exceeds the period (0 before the first sample, when the histogram reports a few hundred ns).
    const ms = (ns: number) => Math.max(0, Math.round(ns / 1e4 - RESOLUTION_MS * 100) / 100);
    return {
      loopDelay: { p50: ms(this.delay.percentile(50)), p99: ms(this.delay.percentile(99)), max: ms(this.delay.max) },
      gcTotalMs: Math.round([...this.gcMs.values()].reduce((a, b) => a + b, 0)),
      gcMajorMaxMs: Math.round(this.gcMajorMaxMs * 10) / 10,
      utilization: Math.round(performance.eventLoopUtilization(this.startUtilization).utilization * 1000) / 1000,
    };
  }

  stop(): void {
    this.delay.disable();
    this.observer.disconnect();
  }
}

/** `event loop delay p50/p99/max 1.1/20.3/45 ms, busy 41%, GC 812 ms (longest major 23.5 ms)` */
export function formatPauses(p: PauseSummary): string {
  return `event loop delay p50/p99/max ${p.loopDelay.p50}/${p.loopDelay.p99}/${p.loopDelay.max} ms, busy ${Math.round(p.utilization * 100)}%, GC ${p.gcTotalMs} ms (longest major ${p.gcMajorMaxMs} ms)`;
}
