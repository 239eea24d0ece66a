/** The short table printed at the end of a benchmark run. */
export function formatBench(r: Record<string, unknown>): string {
  const x = r as {
    drain: { processes: number; perSecond: number; peakRssMiB: number; correct: boolean }[];
    naive: { perSecond: number; requests: number; correct: boolean };
    pipelineOverNaive: number;
    raw: Record<string, { perSecond: number }>;
    slowestRawStage: string;
    pipelineShareOfSlowestStage: number;
    latency: { offeredPerSecond: number; achievedPerSecond: number; p50: number; p95: number; p99: number; max: number; keptUp: boolean; correct: boolean }[];
    cost: { peakRssMiB: number; cpuSecondsPer1000: number; mysqlStatementsPer1000: number; redisRoundTripsPer1000: number };
    correct: boolean;
  };
  const rows: [string, string][] = [
    ...x.drain.map((d): [string, string] => [
      `drain, ${d.processes} consumer process(es)`,
      `${d.perSecond.toLocaleString('en-US')} requests/s${d.correct ? '' : '  INCORRECT'}`,
    ]),
    [`naive baseline (${x.naive.requests} requests)`, `${x.naive.perSecond.toLocaleString('en-US')} requests/s${x.naive.correct ? '' : '  INCORRECT'}`],
    ['pipeline / naive', `${x.pipelineOverNaive}x`],
    ...Object.entries(x.raw).map(([k, v]): [string, string] => [`raw ${k}`, `${v.perSecond.toLocaleString('en-US')} requests/s`]),
    ['pipeline / slowest raw stage', `${Math.round(x.pipelineShareOfSlowestStage * 100)}% of ${x.slowestRawStage}`],
    ...x.latency.map((l): [string, string] => [
      `latency at ${l.offeredPerSecond}/s (achieved ${l.achievedPerSecond}/s)`,
      `p50 ${l.p50} ms, p95 ${l.p95} ms, p99 ${l.p99} ms, max ${l.max} ms${l.keptUp ? '' : ', fell behind'}${l.correct ? '' : '  INCORRECT'}`,
    ]),
    ['consumer peak RSS', `${x.cost.peakRssMiB} MiB`],
    ['CPU per 1,000 requests', `${x.cost.cpuSecondsPer1000} s`],
    ['MySQL statements per 1,000', String(x.cost.mysqlStatementsPer1000)],
    ['Redis round trips per 1,000', String(x.cost.redisRoundTripsPer1000)],
    ['every run correct', x.correct ? 'yes' : 'NO'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}
