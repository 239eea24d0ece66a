import type { BenchResult } from './run.js';

const n = (x: number) => x.toLocaleString('en-US');
const met = (ok: boolean) => (ok ? 'met' : 'NOT met');

/** The table printed at the end of a benchmark run: ratios against their goals first, then the figures. */
export function formatBench(x: BenchResult): string {
  const one = x.drain[0]!;
  const half = x.latency.find((l) => l.fractionOfCapacity === 0.5);
  const rows: [string, string][] = [
    ['RATIOS (same run)', ''],
    ['pipeline / naive', `${x.ratios.pipelineOverNaive}x  (goal >= 10x: ${met(x.ratios.pipelineOverNaive >= 10)})`],
    ['pipeline / combined raw ceiling', `${Math.round(x.ratios.shareOfCeiling * 100)}%  (goal >= 70%: ${met(x.ratios.shareOfCeiling >= 0.7)})`],
    ['p99 at 50% of drain / flush cycle', half ? `${half.p99OverCycle}x  (goal <= 3x: ${met(half.p99OverCycle <= 3)})` : 'not measured'],
    [
      'peak RSS, heap capped',
      x.capped
        ? `${x.capped.peakRssMiB} MiB at ${Math.round((x.ratios.cappedThroughputShare ?? 0) * 100)}% of unbounded throughput  (goal <= 256 MiB within 5%: ${met(x.capped.peakRssMiB <= 256 && (x.ratios.cappedThroughputShare ?? 0) >= 0.95)})`
        : 'not measured',
    ],
    ['FIGURES', ''],
    ...x.drain.map((d): [string, string] => [
      `drain, ${d.processes} consumer process(es)`,
      `${n(d.perSecond)} requests/s, peak RSS ${d.peakRssMiB} MiB${d.correct ? '' : '  INCORRECT'}`,
    ]),
    ...(x.capped
      ? [
          [
            `drain, 1 process, ${x.capped.nodeOptions}`,
            `${n(x.capped.perSecond)} requests/s, peak RSS ${x.capped.peakRssMiB} MiB${x.capped.correct ? '' : '  INCORRECT'}`,
          ] as [string, string],
        ]
      : []),
    [
      `naive (${x.naive.requests} requests, ${x.naive.partitionsConcurrently} partitions at once)`,
      `${n(x.naive.perSecond)} requests/s${x.naive.correct ? '' : '  INCORRECT'}`,
    ],
    ...Object.entries(x.raw).map(([k, v]): [string, string] => [`raw ${k}`, `${n(v.perSecond)} requests/s  (${v.how})`]),
    ['combined raw ceiling 1/Σ(1/raw)', `${n(x.ratios.combinedCeiling)} requests/s${x.rawRowsCorrect ? '' : '  raw rows INCORRECT'}`],
    [
      'minimal flush cycle (median)',
      `${x.cycle.medianMs} ms  (${Object.entries(x.cycle.steps)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')})`,
    ],
    ...x.latency.map((l): [string, string] => [
      `latency at ${n(l.offeredPerSecond)}/s${l.fractionOfCapacity !== null ? ` (${Math.round(l.fractionOfCapacity * 100)}%)` : ''}${l.settings ? ` ${l.settings}` : ''}`,
      `p50 ${l.p50} ms, p95 ${l.p95} ms, p99 ${l.p99} ms (${l.p99OverCycle}x cycle), max ${l.max} ms${l.keptUp ? '' : ', fell behind'}${l.correct ? '' : '  INCORRECT'}`,
    ]),
    ...(x.sustained
      ? [
          [
            `sustained ${x.sustained.seconds} s at ${n(x.sustained.offeredTarget)}/s`,
            `offered ${n(x.sustained.offeredPerSecond)}/s, decided ${n(x.sustained.decidedPerSecond)}/s, max lag ${n(x.sustained.maxLag)}, p99 ${x.sustained.p99} ms${x.sustained.keptUp ? '' : ', fell behind'}${x.sustained.correct ? '' : '  INCORRECT'}`,
          ] as [string, string],
        ]
      : []),
    [
      `recovery after kill -9 (session ${x.recovery.sessionTimeoutMs / 1000} s)`,
      `first decision ${x.recovery.firstDecisionSeconds ?? '-'} s, drained ${x.recovery.drainedSeconds} s after the kill${x.recovery.correct ? '' : '  INCORRECT'}`,
    ],
    [
      'peer: Kafka Connect + Debezium JDBC sink',
      x.peer === null
        ? 'not run'
        : 'error' in x.peer
          ? `failed: ${x.peer.error.slice(0, 200)}`
          : `${n(x.peer.perSecond)} rows/s upserted (pipeline decided ${n(one.perSecond)}/s: ${x.peer.pipelineOverPeer}x the peer)${x.peer.correct ? '' : '  rows INCORRECT'}`,
    ],
    ['consumer peak RSS (full drain)', `${one.peakRssMiB} MiB`],
    ['CPU per 1,000 requests', `${x.cost.cpuSecondsPer1000} s`],
    ['MySQL statements per 1,000', String(x.cost.mysqlStatementsPer1000)],
    ['Redis round trips per 1,000', String(x.cost.redisRoundTripsPer1000)],
    ['every run correct', x.correct ? 'yes' : 'NO'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => (v === '' ? k : `${k.padEnd(width)}  ${v}`)).join('\n');
}
