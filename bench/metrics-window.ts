/**
 * A running consumer's latency histograms, read from its /metrics, and what happened between two reads:
 * the bench's account of one window of a run (after a warm-up) rather than of the process's whole life.
 * The histograms are the consumer's own (consumers/stage-histogram.ts); their buckets are cumulative
 * counters, so the difference of two reads is the window's histogram.
 */
import { type Series, type Stage, STAGE_BUCKETS, STAGES, summariseBuckets } from '../consumers/stage-histogram.js';
import type { ConsumerSummary } from './consumer-summary.js';

/** Histograms by metric name (`redeem_stage_kafka_seconds`, ..., `redeem_request_seconds`), per-bucket counts. */
export type Histograms = Map<string, Series>;

const END_TO_END = 'redeem_request_seconds';
const stageMetric = (stage: Stage) => `redeem_stage_${stage}_seconds`;
const LINE = /^(redeem_(?:stage_[a-z]+|request)_seconds)_(bucket|sum|count)(?:\{([^}]*)\})? (\S+)$/;

/** Parses the latency histograms out of a Prometheus text exposition. */
export function parseHistograms(text: string): Histograms {
  const cumulative = new Map<string, { le: Map<string, number>; sum: number; count: number }>();
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const [, name, part, labels, value] = m as unknown as [string, string, 'bucket' | 'sum' | 'count', string | undefined, string];
    let h = cumulative.get(name);
    if (!h) cumulative.set(name, (h = { le: new Map(), sum: 0, count: 0 }));
    if (part === 'bucket') h.le.set(/le="([^"]+)"/.exec(labels ?? '')?.[1] ?? '', Number(value));
    else h[part] = Number(value);
  }
  const histograms: Histograms = new Map();
  for (const [name, h] of cumulative) {
    const bounds = [...STAGE_BUCKETS.map(String), '+Inf'];
    let below = 0;
    const counts = bounds.map((le) => {
      const upTo = h.le.get(le) ?? below;
      const n = upTo - below;
      below = upTo;
      return n;
    });
    histograms.set(name, { counts, sum: h.sum, count: h.count });
  }
  return histograms;
}

/** Reads a consumer's histograms from its ops server. */
export async function scrapeHistograms(port: number): Promise<Histograms> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!response.ok) throw new Error(`the consumer's /metrics on port ${port} answered ${response.status}`);
  return parseHistograms(await response.text());
}

/** What `after` counted that `before` had not: the window's histograms. */
export function histogramsBetween(before: Histograms, after: Histograms): Histograms {
  const window: Histograms = new Map();
  for (const [name, a] of after) {
    const b = before.get(name);
    const counts = Array.from({ length: a.counts.length }, (_, i) => a.counts[i]! - (b?.counts[i] ?? 0));
    window.set(name, { counts, sum: a.sum - (b?.sum ?? 0), count: a.count - (b?.count ?? 0) });
  }
  return window;
}

/** The window in the form of the consumer's own summary: end to end and by stage, ms. */
export function windowLatency(h: Histograms): Pick<ConsumerSummary, 'endToEnd' | 'stages'> {
  const e2e = h.get(END_TO_END);
  const stages: ConsumerSummary['stages'] = {};
  for (const stage of STAGES) {
    const s = h.get(stageMetric(stage));
    if (!s || s.count === 0) continue;
    const { mean, p50, p99 } = summariseBuckets(s);
    stages[stage] = { mean, p50, p99 };
  }
  if (!e2e || e2e.count === 0) return { endToEnd: null, stages };
  const { mean, p50, p95, p99 } = summariseBuckets(e2e);
  return { endToEnd: { mean, p50, p95, p99 }, stages };
}
