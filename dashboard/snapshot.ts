import { type Admin, AssignerProtocol } from 'kafkajs';

import { STAGES } from '../consumers/stage-histogram.js';
import { topRedeemed } from '../lib/coupon-catalog.js';
import { partitionLags } from '../lib/kafka.js';
import type { Runtime } from '../lib/runtime.js';
import { parsePrometheusText, type Sample, sumBy } from './prometheus-text.js';

/** What the page shows at one moment; the page keeps the history of the rates itself. */
export interface Snapshot {
  at: string;
  group: { id: string; state: string; members: { clientId: string; host: string; memberId: string; partitions: number[] }[] };
  /** Per partition of the requests topic, as `redeem status` computes it. */
  lag: { partition: number; end: number; committed: number | null; lag: number }[];
  totalLag: number;
  /** The ops servers scraped, and whether each answered. */
  consumers: { url: string; up: boolean; error?: string }[];
  /** Per outcome (`APPLIED`, `REJECTED/EXHAUSTED`, ...): the counters' sum and its rate since the last snapshot. */
  decisions: { outcome: string; total: number; perSecond: number }[];
  decisionsTotal: number;
  decisionsPerSecond: number;
  deadLetters: { code: string; total: number }[];
  rebalances: number;
  /** Per stage: requests per latency bucket (not cumulative), upper bounds in seconds. */
  stages: { stage: string; count: number; buckets: { le: string; count: number }[] }[];
  topCoupons: { code: string; redeemed: number }[];
  /** What could not be read this time (the rest is shown all the same). */
  problems: string[];
}

async function scrape(url: string): Promise<Sample[]> {
  const response = await fetch(new URL('/metrics', url), { signal: AbortSignal.timeout(2000) });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return parsePrometheusText(await response.text());
}

/** Per stage, the buckets of `redeem_stage_<stage>_seconds` summed over members, made per bucket. */
function stageHistograms(samples: readonly Sample[]): Snapshot['stages'] {
  return STAGES.map((stage) => {
    const cumulative = [...sumBy(samples, `redeem_stage_${stage}_seconds_bucket`, (l) => l.le ?? '')].sort(
      ([a], [b]) => (a === '+Inf' ? Infinity : Number(a)) - (b === '+Inf' ? Infinity : Number(b)),
    );
    const buckets = cumulative.map(([le, n], i) => ({ le, count: n - (i > 0 ? cumulative[i - 1]![1] : 0) }));
    return { stage, count: cumulative.at(-1)?.[1] ?? 0, buckets };
  });
}

async function groupAndLag(admin: Admin, groupId: string, topic: string): Promise<Pick<Snapshot, 'group' | 'lag' | 'totalLag'>> {
  const [{ groups }, lag] = await Promise.all([
    admin.describeGroups([groupId]),
    // Asked again for up to 2 s while a leader moves (an election, a topic just made), rather than a gap in the page.
    partitionLags(admin, groupId, topic, 2_000),
  ]);
  const g = groups[0]!;
  const members = g.members.map((m) => ({
    clientId: m.clientId,
    host: m.clientHost,
    memberId: m.memberId,
    partitions: [...(AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? [])].sort((a, b) => a - b),
  }));
  return { group: { id: groupId, state: g.state, members }, lag, totalLag: lag.reduce((sum, p) => sum + p.lag, 0) };
}

/** Gathers snapshots: the group and its lag from Kafka, the members' counters from their /metrics, top coupons from MySQL. */
export class SnapshotSource {
  private previous?: { at: number; totals: Map<string, number> };

  constructor(
    private readonly rt: Runtime,
    private readonly admin: Admin,
    private readonly metricsUrls: readonly string[],
  ) {}

  async next(): Promise<Snapshot> {
    const { consumerGroup, redemptionTopic } = this.rt.config;
    const [kafka, scraped, topCoupons] = await Promise.all([
      groupAndLag(this.admin, consumerGroup, redemptionTopic),
      Promise.all(
        this.metricsUrls.map((url) =>
          scrape(url).then(
            (samples) => ({ url, samples }),
            (error: Error) => ({ url, samples: [], error: error.message }),
          ),
        ),
      ),
      topRedeemed(this.rt.knex(), 10).catch((error: Error) => error),
    ]);
    const problems = topCoupons instanceof Error ? [`top coupons: MySQL: ${topCoupons.message.split('\n')[0]}`] : [];
    const samples = scraped.flatMap((s) => s.samples);
    const now = Date.now();
    const totals = sumBy(samples, 'redeem_decisions_total', (l) => (l.reason ? `${l.decision}/${l.reason}` : l.decision!));
    const seconds = this.previous ? (now - this.previous.at) / 1000 : 0;
    const rate = (outcome: string) => (seconds > 0 ? Math.max(0, (totals.get(outcome) ?? 0) - (this.previous!.totals.get(outcome) ?? 0)) / seconds : 0);
    const decisions = [...totals.keys()].sort().map((outcome) => ({ outcome, total: totals.get(outcome)!, perSecond: rate(outcome) }));
    this.previous = { at: now, totals };
    return {
      at: new Date(now).toISOString(),
      ...kafka,
      consumers: scraped.map((s) => ({ url: s.url, up: !('error' in s), ...('error' in s ? { error: s.error } : {}) })),
      decisions,
      decisionsTotal: decisions.reduce((sum, d) => sum + d.total, 0),
      decisionsPerSecond: decisions.reduce((sum, d) => sum + d.perSecond, 0),
      deadLetters: [...sumBy(samples, 'redeem_dead_letters_total', (l) => l.code ?? '')].map(([code, total]) => ({ code, total })),
      rebalances: [...sumBy(samples, 'redeem_rebalances_total', () => '').values()].reduce((a, b) => a + b, 0),
      stages: stageHistograms(samples),
      topCoupons: topCoupons instanceof Error ? [] : topCoupons,
      problems: [...problems, ...scraped.flatMap((s) => ('error' in s ? [`${s.url}: ${s.error}`] : []))],
    };
  }
}
