/** The table printed at the end of a benchmark run: ratios against their goals first, then the figures. */
import { formatStageMeans, formatStageTails } from './consumer-summary.js';
import { hotPathGoals } from './goals.js';
import { formatHostCpuLines, type HostCpuShares } from './host-cpu.js';
import type { PartialBenchResult } from './result.js';

const n = (x: number) => x.toLocaleString('en-US');
const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
const incorrect = (correct: boolean, what = 'INCORRECT') => (correct ? '' : `  ${what}`);
type Row = [string, string];

/** Every row the result has the figures for (a run of some stages prints only theirs). */
export function formatBench(x: PartialBenchResult): string {
  const m = x.machine as { loadAverageAtStart?: number[]; representative?: boolean; mysqlBufferPoolMiB?: number; mysqlRedoLogMiB?: number | null };
  const rows: Row[] = [
    [
      'host',
      `load average ${m.loadAverageAtStart?.[0] ?? '?'} at the start: ${m.representative === false ? 'NOT representative (busy host, over 1.5)' : 'quiet, representative'}`,
    ],
    ...(m.mysqlBufferPoolMiB === undefined
      ? []
      : [['MySQL InnoDB', `buffer pool ${m.mysqlBufferPoolMiB} MiB, redo log ${m.mysqlRedoLogMiB === null ? 'unknown' : `${m.mysqlRedoLogMiB} MiB`}`] as Row]),
    ['RATIOS (same run)', ''],
    ...ratioRows(x),
    ...goalRows(x),
    ['FIGURES', ''],
    ...figureRows(x),
    ...costRows(x),
    ['every run correct', x.correct ? 'yes' : 'NO'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => (v === '' ? k : `${k.padEnd(width)}  ${v}`)).join('\n');
}

/** The hot path's goals the run has figures for, each met or not, and what held a latency goal missed. */
function goalRows(x: PartialBenchResult): Row[] {
  const verdicts = hotPathGoals(x);
  if (verdicts.length === 0) return [];
  return [
    ['HOT PATH GOALS (issue 18, same run)', ''],
    ...verdicts.flatMap((v): Row[] => [[v.goal, `${v.measured}  (goal ${v.target}: ${met(v.met)})`], ...(v.heldBy ? [['  held by', v.heldBy] as Row] : [])]),
  ];
}

function ratioRows(x: PartialBenchResult): Row[] {
  const r = x.ratios;
  const half = x.latency?.find((l) => l.fractionOfCapacity === 0.5);
  const capped = x.capped;
  const share = r.cappedThroughputShare ?? 0;
  return [
    ...(r.pipelineOverNaive !== undefined ? [['pipeline / naive', `${r.pipelineOverNaive}x  (goal >= 10x: ${met(r.pipelineOverNaive >= 10)})`] as Row] : []),
    ...(r.shareOfCeiling !== undefined
      ? [['pipeline / combined raw ceiling', `${Math.round(r.shareOfCeiling * 100)}%  (goal >= 70%: ${met(r.shareOfCeiling >= 0.7)})`] as Row]
      : []),
    ...(x.latency
      ? [['p99 at 50% of drain / flush cycle', half ? `${half.p99OverCycle}x  (goal <= 3x: ${met(half.p99OverCycle <= 3)})` : 'not measured'] as Row]
      : []),
    ...checkoutRatioRows(x),
    ...(capped !== undefined
      ? [
          [
            'peak RSS, heap capped',
            capped
              ? `${capped.peakRssMiB} MiB at ${Math.round(share * 100)}% of unbounded throughput  (goal <= 256 MiB within 5%: ${met(capped.peakRssMiB <= 256 && share >= 0.95)})`
              : 'not measured',
          ] as Row,
        ]
      : []),
  ];
}

function figureRows(x: PartialBenchResult): Row[] {
  const drains = [...(x.drain ?? []), ...(x.capped ? [x.capped] : [])];
  return [
    ...drains.map((d): Row => [
      `drain, ${d.processes} consumer process(es)${d.nodeOptions ? `, ${d.nodeOptions}` : ''}`,
      `${n(d.perSecond)} requests/s, peak RSS ${d.peakRssMiB} MiB${incorrect(d.correct)}`,
    ]),
    ...(x.naive
      ? [
          [
            `naive (${x.naive.requests} requests, ${x.naive.partitionsConcurrently} partitions at once)`,
            `${n(x.naive.perSecond)} requests/s${incorrect(x.naive.correct)}`,
          ] as Row,
        ]
      : []),
    ...Object.entries(x.raw ?? {}).map(([k, v]): Row => [`raw ${k}`, `${n(v.perSecond)} requests/s  (${v.how})`]),
    ...(x.ratios.combinedCeiling !== undefined
      ? [['combined raw ceiling 1/Σ(1/raw)', `${n(x.ratios.combinedCeiling)} requests/s${incorrect(x.rawRowsCorrect ?? true, 'raw rows INCORRECT')}`] as Row]
      : []),
    ...(x.cycle
      ? [
          [
            'minimal flush cycle (median)',
            `${x.cycle.medianMs} ms  (${Object.entries(x.cycle.steps)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')})`,
          ] as Row,
        ]
      : []),
    ...loadRows(x),
    ...checkoutRows(x),
    ...(x.recovery
      ? [
          [
            `recovery after kill -9 (session ${x.recovery.sessionTimeoutMs / 1000} s)`,
            `first decision ${x.recovery.firstDecisionSeconds ?? '-'} s, drained ${x.recovery.drainedSeconds} s after the kill${incorrect(x.recovery.correct)}`,
          ] as Row,
        ]
      : []),
    ...peerRows(x),
  ];
}

/** Who used the cores while a load ran, and who waited for one. */
function hostCpuRows(h: HostCpuShares | undefined, x: PartialBenchResult): Row[] {
  if (!h) return [];
  const [used, waits] = formatHostCpuLines(h, x.machine.cpus as number | undefined);
  return [['  host CPU', used!], ...(waits ? [['  run queue', waits] as Row] : [])];
}

function loadRows(x: PartialBenchResult): Row[] {
  const s = x.sustained;
  return [
    ...(x.latency ?? []).flatMap((l): Row[] => [
      [
        `latency at ${n(l.offeredPerSecond)}/s${l.fractionOfCapacity !== null ? ` (${Math.round(l.fractionOfCapacity * 100)}%)` : ''}${l.settings ? ` ${l.settings}` : ''}`,
        `p50 ${l.p50} ms, p95 ${l.p95} ms, p99 ${l.p99} ms (${l.p50OverCycle ?? '-'}x / ${l.p95OverCycle ?? '-'}x / ${l.p99OverCycle}x cycle), max ${l.max} ms${l.keptUp ? '' : ', fell behind'}${incorrect(l.correct)}`,
      ],
      ...(l.warmup
        ? [[`  warm-up (first ${l.warmup.seconds} s, apart)`, `p50 ${l.warmup.p50} ms, p99 ${l.warmup.p99} ms, max ${l.warmup.max} ms`] as Row]
        : []),
      ...(l.consumer ? [['  by stage (mean ms)', `${formatStageMeans(l.consumer.stages)}; CPU ${l.consumer.cpuSecondsPer1000} s per 1,000`] as Row] : []),
      ...hostCpuRows(l.hostCpu, x),
    ]),
    ...(s
      ? [
          [
            `sustained ${s.seconds} s at ${n(s.offeredTarget)}/s`,
            `offered ${n(s.offeredPerSecond)}/s, decided ${n(s.decidedPerSecond)}/s, max lag ${n(s.maxLag)}, p50 ${s.p50} ms, p99 ${s.p99} ms${s.keptUp ? '' : ', fell behind'}${incorrect(s.correct)}`,
          ] as Row,
          ...(s.warmup
            ? [[`  warm-up (first ${s.warmup.seconds} s, apart)`, `p50 ${s.warmup.p50} ms, p99 ${s.warmup.p99} ms, max ${s.warmup.max} ms`] as Row]
            : []),
          ...(s.consumer
            ? [['  by stage (mean/p99 ms)', `${formatStageTails(s.consumer.stages)}; CPU ${s.consumer.cpuSecondsPer1000} s per 1,000`] as Row]
            : []),
          ...hostCpuRows(s.hostCpu, x),
        ]
      : []),
  ];
}

function checkoutRatioRows(x: PartialBenchResult): Row[] {
  const k = x.checkout;
  if (!k) return [];
  const at = `${Math.round(k.fractionOfCapacity * 100)}% of drain`;
  return [
    [`redeem() p99 at ${at}`, `${k.redeem.p99} ms  (goal <= ${k.redeem.goalP99Ms} ms: ${met(k.redeem.met)})`],
    [`POST ?wait p99 at ${at}`, `${k.http.p99} ms  (goal <= ${k.http.goalP99Ms} ms: ${met(k.http.met)})`],
    ['HTTP intake (no wait) / drain', `${n(k.intake.perSecond)} / ${n(k.intake.drainPerSecond)} requests/s  (goal >= 1x: ${met(k.intake.met)})`],
  ];
}

function checkoutRows(x: PartialBenchResult): Row[] {
  const k = x.checkout;
  if (!k) return [];
  const wait = (name: string, w: typeof k.redeem): Row[] => [
    [
      `${name} at ${n(w.offeredPerSecond)}/s (${Math.round(k.fractionOfCapacity * 100)}%)`,
      `p50 ${w.p50} ms, p95 ${w.p95} ms, p99 ${w.p99} ms, max ${w.max} ms; ${n(w.requests)} requests at ${n(w.achievedPerSecond)}/s${w.achievedPerSecond < 0.95 * w.offeredPerSecond ? ' (BELOW the offered rate: slow answers held the connections)' : ''}, ${n(w.decidedInTime)} decided within the wait${w.connectionResets ? `, ${n(w.connectionResets)} connections reset` : ''}${w.unanswered ? `, ${n(w.unanswered)} UNANSWERED by the load generator's time-out` : ''}${w.answersMatchMySql ? '' : ', answers DIFFER from MySQL'}${incorrect(w.correct)}`,
    ],
    [
      '  slowest 1%, mean ms',
      `send ${w.slowest.send}, pipeline ${w.slowest.pipeline}, answer ${w.slowest.answer}; consumer by stage: ${formatStageMeans(w.consumer.stages)}`,
    ],
    ...(w.cpu
      ? [['  CPU per s', `redeem serve ${w.cpu.serve ?? '-'}, load generator ${w.cpu.loadGenerator}, host ${w.cpu.hostBusyCores} of 2 cores`] as Row]
      : []),
    ...(w.heldBy ? [['  p99 held by', w.heldBy] as Row] : []),
  ];
  const i = k.intake;
  return [
    ...wait('checkout redeem()', k.redeem),
    ...wait('checkout POST ?wait', k.http),
    [
      `checkout HTTP intake, no wait (${i.connections} connections)`,
      `${n(i.perSecond)} requests/s accepted (${n(i.accepted)} in ${i.seconds} s; drain ${n(i.drainPerSecond)}/s${i.connectionResets ? `; ${n(i.connectionResets)} connections reset` : ''}); CPU per s: redeem serve ${i.cpu.serve}, load generator ${i.cpu.loadGenerator}, host ${i.cpu.hostBusyCores} of 2 cores${incorrect(i.correct)}`,
    ],
    ...(i.heldBy ? [['  intake held by', i.heldBy] as Row] : []),
    ['  load generator', k.loadGenerator],
  ];
}

function peerRows(x: PartialBenchResult): Row[] {
  if (x.peer === undefined) return [];
  const p = x.peer;
  const one = x.drain?.[0];
  const value =
    p === null
      ? 'not run'
      : 'error' in p
        ? `failed: ${p.error.slice(0, 200)}`
        : `${n(p.perSecond)} rows/s upserted${one ? ` (pipeline decided ${n(one.perSecond)}/s: ${p.pipelineOverPeer}x the peer)` : ''}${incorrect(p.correct, 'rows INCORRECT')}`;
  return [['peer: Kafka Connect + Debezium JDBC sink', value]];
}

function costRows(x: PartialBenchResult): Row[] {
  if (!x.cost) return [];
  return [
    ['consumer peak RSS (full drain)', `${x.cost.peakRssMiB} MiB`],
    ['CPU per 1,000 requests', `${x.cost.cpuSecondsPer1000} s`],
    ['MySQL statements per 1,000', String(x.cost.mysqlStatementsPer1000)],
    ['Redis round trips per 1,000', String(x.cost.redisRoundTripsPer1000)],
  ];
}
