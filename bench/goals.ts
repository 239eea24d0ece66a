/**
 * The hot path's goals (issue 18, docs/performance.md) and a result's verdict on each: what the run
 * measured, met or not, and for a latency goal missed what held it, by the run's own figures: the
 * consumer's largest stage, how long its main thread waited for a core, and how busy the host was.
 * A result of some stages gets the verdicts those stages allow.
 */
import type { ConsumerSummary } from './consumer-summary.js';
import type { HostCpuShares } from './host-cpu.js';
import type { PartialBenchResult } from './result.js';

export interface GoalVerdict {
  goal: string;
  measured: string;
  target: string;
  met: boolean;
  /** For a latency goal missed: what the run says held it (absent when it has no account of it). */
  heldBy?: string;
}

/** The sustained run the goal names: 10 minutes at 50% of the drain. */
const SUSTAINED_GOAL_SECONDS = 600;

export function hotPathGoals(x: PartialBenchResult): GoalVerdict[] {
  const verdicts: GoalVerdict[] = [];
  const cores = typeof x.machine.cpus === 'number' ? x.machine.cpus : undefined;
  const peer = x.peer;
  if (peer && 'perSecond' in peer && peer.pipelineOverPeer !== undefined) {
    const ratio = peer.pipelineOverPeer;
    verdicts.push({ goal: 'pipeline / Kafka Connect + Debezium JDBC sink', measured: `${ratio}x`, target: '>= 1.2x', met: ratio >= 1.2 });
  }
  // The series' own runs, not a what-if run at the same fraction.
  const at = (fraction: number) => x.latency?.find((l) => l.fractionOfCapacity === fraction && !l.settings);
  const quarter = at(0.25);
  if (quarter) {
    const met = quarter.p99 <= 30 && quarter.keptUp;
    verdicts.push({
      goal: 'p99 at 25% of drain',
      measured: `${quarter.p99} ms${quarter.keptUp ? '' : ', fell behind'}`,
      target: '<= 30 ms',
      met,
      ...heldBy(met, quarter.consumer?.stages, quarter.hostCpu, cores),
    });
  }
  const half = at(0.5);
  if (half) {
    const met = half.p50 <= 15 && half.p99 <= 50 && half.keptUp;
    verdicts.push({
      goal: 'p50 / p99 at 50% of drain',
      measured: `${half.p50} / ${half.p99} ms${half.keptUp ? '' : ', fell behind'}`,
      target: '<= 15 / 50 ms',
      met,
      ...heldBy(met, half.consumer?.stages, half.hostCpu, cores),
    });
  }
  const s = x.sustained;
  if (s) {
    const short = s.seconds < SUSTAINED_GOAL_SECONDS;
    const met = s.keptUp && s.p99 <= 100 && !short;
    verdicts.push({
      goal: `sustained ${s.seconds} s at 50% of drain`,
      measured: `p99 ${s.p99} ms, ${s.keptUp ? 'kept up' : 'fell behind'}${short ? ` (the goal's run is ${SUSTAINED_GOAL_SECONDS} s)` : ''}`,
      target: `${SUSTAINED_GOAL_SECONDS} s, keeps up, p99 <= 100 ms`,
      met,
      // What held the latency, whether or not the run was as long as the goal's.
      ...heldBy(s.keptUp && s.p99 <= 100, s.consumer?.stages, s.hostCpu, cores),
    });
  }
  const one = x.drain?.find((d) => d.processes === 1);
  if (one) {
    verdicts.push({ goal: 'consumer peak RSS, 1-process drain', measured: `${one.peakRssMiB} MiB`, target: '<= 256 MiB', met: one.peakRssMiB <= 256 });
  }
  return verdicts;
}

/**
 * "its mysql stage (mean 12.1 ms); the consumer's main thread waited for a core 36% of the window (it
 * ran 45%); the host 1.51 of 2 cores busy": the request's longest stage on its way (the offset commit,
 * after the answer, is not on it) and the wait every stage shares.
 */
function heldBy(met: boolean, stages: ConsumerSummary['stages'] | undefined, host: HostCpuShares | undefined, cores: number | undefined): { heldBy?: string } {
  if (met) return {};
  const parts: string[] = [];
  const onTheWay = Object.entries(stages ?? {}).filter(([stage]) => stage !== 'commit');
  const longest = onTheWay.sort(([, a], [, b]) => b!.mean - a!.mean)[0];
  if (longest) parts.push(`its ${longest[0]} stage (mean ${longest[1]!.mean} ms)`);
  const main = host?.consumerMainThread;
  if (main) parts.push(`the consumer's main thread waited for a core ${Math.round(main.waited * 100)}% of the window (it ran ${Math.round(main.ran * 100)}%)`);
  if (host) parts.push(`the host ${host.hostBusyCores}${cores ? ` of ${cores}` : ''} cores busy`);
  return parts.length > 0 ? { heldBy: parts.join('; ') } : {};
}
