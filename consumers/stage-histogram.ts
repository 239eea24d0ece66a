/**
 * Where a request's time goes, stage by stage: a Prometheus histogram per stage fed per request, and
 * the same buckets summarised as mean and percentiles for the consumer's
 * summary line and the bench. A flush's stages are shared by all its requests, so a flush observes its
 * duration once with the number of requests it carried (prom-client's Histogram has no weighted observe,
 * and observing 2,000 times per flush would cost more than the stage it measures).
 *
 * The stages follow a request in order, and together they make its end-to-end time (CreateTime to
 * audit record acknowledged, `redeem_request_seconds`); each is a histogram of its own,
 * `redeem_stage_<stage>_seconds`:
 *   kafka   - from the request's CreateTime to its batch handed to the consumer (broker wait, fetch, KafkaJS decode)
 *   decode  - Avro decode, validation and the partition contract of its chunk (done as soon as fetched)
 *   queued  - from decoded to its flush starting (waiting for an earlier flush of its partition, or a free slot)
 *   redis   - the flush's Redis lookup and update
 *   mysql   - the flush's transaction: load, decide, write, commit (the lookup runs beside its first
 *             round trip, which waits for it: the two overlap by the shorter of them)
 *   audit   - the flush's audit records and dead letters produced and acknowledged
 * and, off the critical path, once the answer is out:
 *   commit  - from the flush's end to the background commit that covers its offsets
 */
export const STAGES = ['kafka', 'decode', 'queued', 'redis', 'mysql', 'audit', 'commit'] as const;
export type Stage = (typeof STAGES)[number];

/**
 * Upper bounds in seconds: fine below 50 ms, where the latency goals are, coarse above; 29 of them, so
 * that a histogram stays within 30 series (the +Inf bucket included).
 */
export const STAGE_BUCKETS = [
  0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0065, 0.008, 0.01, 0.0125, 0.015, 0.0175, 0.02, 0.025, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.15, 0.25,
  0.5, 1, 2, 5, 10, 30,
] as const;

export interface StageSummary {
  count: number;
  /** milliseconds */
  mean: number;
  p50: number;
  p95: number;
  p99: number;
}

/** A histogram's state: requests per bucket of STAGE_BUCKETS (the last one +Inf), their total seconds and number. */
export interface Series {
  counts: ArrayLike<number>;
  sum: number;
  count: number;
}

/**
 * Mean and percentiles (ms) of a histogram, read off its buckets with linear interpolation inside one:
 * of a live series, or of the difference of two scrapes of /metrics (a window of a run).
 */
export function summariseBuckets(s: Series, buckets: readonly number[] = STAGE_BUCKETS): StageSummary {
  const ms = (x: number) => Math.round(x * 1e4) / 10;
  return {
    count: s.count,
    mean: s.count > 0 ? ms(s.sum / s.count) : 0,
    p50: ms(quantile(s, 0.5, buckets)),
    p95: ms(quantile(s, 0.95, buckets)),
    p99: ms(quantile(s, 0.99, buckets)),
  };
}

function quantile(s: Series, q: number, buckets: readonly number[]): number {
  if (s.count === 0) return 0;
  const rank = q * s.count;
  let seen = 0;
  for (let i = 0; i < s.counts.length; i++) {
    const n = s.counts[i]!;
    if (n > 0 && seen + n >= rank) {
      const lower = i === 0 ? 0 : buckets[i - 1]!;
      const upper = i < buckets.length ? buckets[i]! : lower;
      return lower + (upper - lower) * ((rank - seen) / n);
    }
    seen += n;
  }
  return buckets[buckets.length - 1]!;
}

/** Histograms of request times, one per key (a label when there are several), with weighted observations. */
export class RequestHistogram<K extends string> {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly series: Map<K, { counts: Float64Array; sum: number; count: number }>;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly keys: readonly K[],
    private readonly label: string | null,
    /** Upper bounds in seconds, ascending (+Inf is added). */
    private readonly buckets: readonly number[] = STAGE_BUCKETS,
  ) {
    this.series = new Map(keys.map((k) => [k, { counts: new Float64Array(buckets.length + 1), sum: 0, count: 0 }]));
  }

  /** `count` requests spent `seconds` in `stage`. */
  observe(stage: K, seconds: number, count = 1): void {
    if (count <= 0) return;
    const s = this.series.get(stage)!;
    const value = seconds > 0 ? seconds : 0;
    s.counts[bucketOf(this.buckets, value)]! += count;
    s.sum += value * count;
    s.count += count;
  }

  /** Mean and percentiles (ms) of a stage, read off the buckets with linear interpolation inside one. */
  summary(stage: K): StageSummary {
    return summariseBuckets(this.series.get(stage)!, this.buckets);
  }

  summaries(): Record<K, StageSummary> {
    return Object.fromEntries(this.keys.map((s) => [s, this.summary(s)])) as Record<K, StageSummary>;
  }

  /** prom-client's custom metric interface (Registry#registerMetric). */
  get(): Promise<{
    name: string;
    help: string;
    type: 'histogram';
    aggregator: 'sum';
    values: { labels: Record<string, string | number>; value: number; metricName: string }[];
  }> {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const [key, s] of this.series) {
      const labels: Record<string, string> = this.label === null ? {} : { [this.label]: key };
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...labels }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: s.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    for (const s of this.series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}

/**
 * One histogram per stage (`redeem_stage_<stage>_seconds`): a metric each rather than a `stage` label,
 * so that each stays within 30 series.
 */
export class StageHistogram {
  private readonly perStage = new Map<Stage, RequestHistogram<'all'>>(
    STAGES.map((stage) => [
      stage,
      new RequestHistogram(`redeem_stage_${stage}_seconds`, `Time each request spent in the ${stage} stage (${STAGE_HELP[stage]})`, ['all'], null),
    ]),
  );

  /** `count` requests spent `seconds` in `stage`. */
  observe(stage: Stage, seconds: number, count = 1): void {
    this.perStage.get(stage)!.observe('all', seconds, count);
  }

  summary(stage: Stage): StageSummary {
    return this.perStage.get(stage)!.summary('all');
  }

  summaries(): Record<Stage, StageSummary> {
    return Object.fromEntries(STAGES.map((s) => [s, this.summary(s)])) as Record<Stage, StageSummary>;
  }

  /** The Prometheus metrics, to register. */
  metrics(): RequestHistogram<'all'>[] {
    return [...this.perStage.values()];
  }
}

const STAGE_HELP: Record<Stage, string> = {
  kafka: 'CreateTime to its batch handed to the consumer',
  decode: "its chunk's decoding, as fetched",
  queued: 'decoded to its flush starting',
  redis: "its flush's Redis lookup and update",
  mysql: "its flush's transaction",
  audit: "its flush's audit produce, acknowledged",
  commit: 'its flush ended to the background offset commit that covers it; off the critical path',
};

/** End-to-end time per request: CreateTime to its audit record acknowledged (the sum of the stages but commit). */
export class EndToEndHistogram extends RequestHistogram<'all'> {
  constructor() {
    super(
      'redeem_request_seconds',
      'From a request reaching the broker (its CreateTime) to its decision committed and its audit record acknowledged',
      ['all'],
      null,
    );
  }
}

function bucketOf(buckets: readonly number[], seconds: number): number {
  // Binary search: the first bound at or above the value (the last slot is +Inf).
  let lo = 0;
  let hi: number = buckets.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (buckets[mid]! >= seconds) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** One line for a summary: `stage mean/p50/p99` in ms, stages in order. */
export function formatStages(summaries: Record<Stage, StageSummary>): string {
  return STAGES.map((s) => `${s} ${summaries[s].mean}/${summaries[s].p50}/${summaries[s].p99}`).join(', ');
}

/** `mean/p50/p95/p99` in ms. */
export function formatLatency(s: StageSummary): string {
  return `end to end ${s.mean}/${s.p50}/${s.p95}/${s.p99} (mean/p50/p95/p99)`;
}
