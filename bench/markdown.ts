/**
 * The Performance tables of docs/performance.md from a result file, so that the figures there are the file's
 * and nothing is copied by hand:  npx --no-install tsx bench/markdown.ts bench/results/bench-....json
 */
import { readFileSync } from 'node:fs';

import { formatStageMeans } from './consumer-summary.js';
import type { BenchResult } from './result.js';

const n = (x: number) => Math.round(x).toLocaleString('en-US');
const pct = (x: number) => `${Math.round(x * 100)}%`;

export function ratioRows(r: BenchResult): string[] {
  const one = r.drain[0]!;
  const at = (f: number) => r.latency.find((l) => l.fractionOfCapacity === f);
  const q = at(0.25);
  const h = at(0.5);
  const capped = r.capped;
  const peer = r.peer && 'perSecond' in r.peer ? r.peer : null;
  const mark = (ok: boolean) => (ok ? 'met' : '**not met**');
  return [
    `| Pipeline / naive consumer (decisions/s) | >= 10x | **${r.ratios.pipelineOverNaive}x** (${n(one.perSecond)} / ${n(r.naive.perSecond)}) | ${mark(r.ratios.pipelineOverNaive >= 10)} |`,
    `| Pipeline / combined raw ceiling 1/Σ(1/raw) | >= 70% | **${pct(r.ratios.shareOfCeiling)}** (${n(one.perSecond)} / ${n(r.ratios.combinedCeiling)}) | ${mark(r.ratios.shareOfCeiling >= 0.7)} |`,
    ...(h
      ? [
          `| p99 at 50% of drain capacity / minimal flush cycle | <= 3x | **${h.p99OverCycle}x** (${n(h.p99)} ms / ${r.cycle.medianMs} ms at ${n(h.offeredPerSecond)}/s${h.keptUp ? '' : ', fell behind'}) | ${mark(h.p99OverCycle <= 3)} |`,
        ]
      : []),
    ...r.latency
      .filter((l) => l.settings)
      .map((l) => `| p99 at 50% with ${l.settings} / minimal flush cycle | | ${l.p99OverCycle}x (${n(l.p99)} ms${l.keptUp ? '' : ', fell behind'}) | |`),
    ...(q
      ? [
          `| p99 at 25% of drain capacity / minimal flush cycle | | ${q.p99OverCycle}x (${n(q.p99)} ms at ${n(q.offeredPerSecond)}/s${q.keptUp ? '' : ', fell behind'}) | |`,
          `| p99 at 25% of drain capacity | <= 30 ms | **${n(q.p99)} ms** | ${mark(q.p99 <= 30)} |`,
        ]
      : []),
    ...(h ? [`| p50 / p99 at 50% of drain capacity | <= 15 / <= 50 ms | **${n(h.p50)} / ${n(h.p99)} ms** | ${mark(h.p50 <= 15 && h.p99 <= 50)} |`] : []),
    ...(capped
      ? [
          `| Peak RSS with the heap capped (${capped.nodeOptions}); its throughput / unbounded | <= 256 MiB within 5% | ${capped.peakRssMiB} MiB; **${pct(r.ratios.cappedThroughputShare ?? 0)}** (unbounded: ${one.peakRssMiB} MiB) | ${mark(capped.peakRssMiB <= 256 && (r.ratios.cappedThroughputShare ?? 0) >= 0.95)} |`,
        ]
      : []),
    ...(r.sustained
      ? [
          `| Sustained ${r.sustained.seconds} s at 50% of drain capacity: decided / offered | 100%, lag bounded | ${pct(r.sustained.decidedPerSecond / Math.max(1, r.sustained.offeredPerSecond))} (max lag ${n(r.sustained.maxLag)}) | ${mark(r.sustained.keptUp)} |`,
        ]
      : []),
    `| Recovery after kill -9: first decision / drained, from the kill | | ${r.recovery.firstDecisionSeconds ?? '-'} s / ${r.recovery.drainedSeconds} s (session timeout ${r.recovery.sessionTimeoutMs / 1000} s) | |`,
    peer
      ? `| Pipeline decisions/s / Kafka Connect + Debezium JDBC sink rows/s | >= 1.2x | **${peer.pipelineOverPeer}x** (${n(one.perSecond)} / ${n(peer.perSecond)}) | ${mark((peer.pipelineOverPeer ?? 0) >= 1.2)} |`
      : `| Pipeline / Kafka Connect + Debezium JDBC sink | | ${r.peer && 'error' in r.peer ? `peer failed: ${r.peer.error.slice(0, 120)}` : 'not run'} | |`,
  ];
}

export function absoluteRows(r: BenchResult): string[] {
  const rows = [
    '| Figure | Value |',
    '|---|---|',
    ...r.drain.map((d) => `| Drain, ${d.processes} consumer process${d.processes > 1 ? 'es' : ''} | ${n(d.perSecond)}/s, peak RSS ${d.peakRssMiB} MiB |`),
    ...(r.capped ? [`| Drain, 1 process, ${r.capped.nodeOptions} | ${n(r.capped.perSecond)}/s, peak RSS ${r.capped.peakRssMiB} MiB |`] : []),
    `| Naive consumer (${n(r.naive.requests)} requests, ${r.naive.partitionsConcurrently} partitions at once) | ${n(r.naive.perSecond)}/s |`,
    ...Object.entries(r.raw).map(([k, v]) => `| Raw ${k} | ${n(v.perSecond)}/s |`),
    `| Combined raw ceiling | ${n(r.ratios.combinedCeiling)}/s |`,
    `| Minimal flush cycle (median of ${r.cycle.samples}) | ${r.cycle.medianMs} ms: Redis lookup ${r.cycle.steps.redisLookup}, MySQL commit ${r.cycle.steps.mysqlCommit}, Redis update ${r.cycle.steps.redisUpdate}, audit produce ${r.cycle.steps.auditProduce}, offset commit ${r.cycle.steps.offsetCommit} ms |`,
    ...r.latency.flatMap((l) => [
      `| Latency at ${n(l.offeredPerSecond)}/s${l.fractionOfCapacity !== null ? ` (${pct(l.fractionOfCapacity)})` : ''}${l.settings ? ` with ${l.settings}` : ''}: p50 / p95 / p99 / max | ${n(l.p50)} / ${n(l.p95)} / ${n(l.p99)} / ${n(l.max)} ms${l.keptUp ? '' : ' (fell behind)'}${l.p50OverCycle !== undefined ? `; ${l.p50OverCycle}x / ${l.p95OverCycle}x / ${l.p99OverCycle}x the cycle` : ''} |`,
      ...(l.warmup
        ? [
            `| &nbsp;&nbsp;warm-up before it (the consumer's first ${l.warmup.seconds} s, not counted above): p50 / p99 / max | ${n(l.warmup.p50)} / ${n(l.warmup.p99)} / ${n(l.warmup.max)} ms |`,
          ]
        : []),
      ...(l.consumer
        ? [
            `| &nbsp;&nbsp;by stage, mean ms (the consumer's own account) | ${formatStageMeans(l.consumer.stages)}; CPU ${l.consumer.cpuSecondsPer1000} s per 1,000 |`,
          ]
        : []),
    ]),
    ...(r.sustained
      ? [
          `| Sustained ${r.sustained.seconds} s at ${n(r.sustained.offeredTarget)}/s: offered / decided, max lag, p99 | ${n(r.sustained.offeredPerSecond)} / ${n(r.sustained.decidedPerSecond)}/s, ${n(r.sustained.maxLag)}, ${n(r.sustained.p99)} ms |`,
        ]
      : []),
    ...(r.peer && 'perSecond' in r.peer
      ? [`| Kafka Connect + Debezium JDBC sink | ${n(r.peer.perSecond)} rows/s (${n(r.peer.rows)} rows${r.peer.correct ? ', all present' : ', INCORRECT'}) |`]
      : []),
    `| CPU per 1,000 requests; MySQL statements / Redis round trips per 1,000 | ${r.cost.cpuSecondsPer1000} s; ${r.cost.mysqlStatementsPer1000} / ${r.cost.redisRoundTripsPer1000} |`,
    `| Every run's MySQL state verified | ${r.correct ? 'all correct' : '**INCORRECT**'} |`,
  ];
  return rows;
}

export function machineLine(r: BenchResult): string {
  const m = r.machine as {
    cpus: number;
    cpuModel?: string;
    memoryGiB: number;
    node: string;
    loadAverageAtStart?: number[];
    loadAverageAtEnd?: number[];
    mysqlBufferPoolMiB?: number;
    mysqlRedoLogMiB?: number | null;
  };
  const redo = m.mysqlRedoLogMiB ? `, redo log ${m.mysqlRedoLogMiB} MiB` : '';
  const pool = m.mysqlBufferPoolMiB === undefined ? '' : ` (InnoDB buffer pool ${m.mysqlBufferPoolMiB} MiB${redo})`;
  const load = m.loadAverageAtStart
    ? ` Load average (1/5/15 min) ${m.loadAverageAtStart.join(' / ')} at the start and ${m.loadAverageAtEnd?.join(' / ')} at the end.`
    : '';
  const quiet = m.loadAverageAtStart && m.loadAverageAtStart[0]! > 1.5 ? ' **Not representative: the load average at the start was over 1.5.**' : '';
  return `Machine: ${m.cpus} cores (${m.cpuModel ?? 'unknown CPU'}), ${m.memoryGiB} GiB, Node.js ${m.node}; Kafka 4.1.1 (one KRaft node), Apicurio Registry 3.0.9, Redis and MariaDB${pool} on the same host as the consumers.${load}${quiet}`;
}

if (process.argv[2]) {
  const r = JSON.parse(readFileSync(process.argv[2], 'utf8')) as BenchResult;
  process.stdout.write(`${ratioRows(r).join('\n')}\n\n${machineLine(r)}\n\n${absoluteRows(r).join('\n')}\n`);
}
