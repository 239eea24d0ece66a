/**
 * The benchmark's charts as self-contained SVG (no dependency, readable in a browser or a PR):
 * - benchChart: throughput of everything measured on a log scale (the naive baseline and the raw
 *   limits are orders of magnitude apart, a linear scale hides one or the other), and end-to-end latency
 *   grouped by offered rate, with the minimal flush cycle and its 3x goal drawn across.
 * - sustainedChart: offered and decided per second, and the lag, over the sustained run.
 */
interface ChartInput {
  drain: { processes: number; perSecond: number }[];
  capped: { perSecond: number; nodeOptions?: string } | null;
  naive: { perSecond: number };
  raw: Record<string, { perSecond: number }>;
  ratios: { combinedCeiling: number };
  peer: { perSecond: number } | { error: string } | null;
  cycle: { medianMs: number };
  latency: { offeredPerSecond: number; fractionOfCapacity: number | null; settings?: string; p50: number; p95: number; p99: number }[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
const text = (x: number, y: number, s: string, attrs = '') => `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(s)}</text>`;

const COLORS = {
  peer: '#d35400',
  pipeline: '#2e86c1',
  naive: '#c0392b',
  raw: '#7f8c8d',
  ceiling: '#34495e',
  p50: '#27ae60',
  p95: '#f39c12',
  p99: '#8e44ad',
  cycle: '#c0392b',
};

/** Horizontal bars on a log10 scale, one labelled row each. */
function throughputPanel(x0: number, y0: number, width: number, items: { label: string; value: number; color: string }[]): string {
  const labelWidth = 190;
  const rowHeight = 26;
  const plotX = x0 + labelWidth;
  const plotWidth = width - labelWidth - 70;
  const values = items.map((i) => Math.max(1, i.value));
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  const xOf = (v: number) => plotX + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotWidth;
  const plotTop = y0 + 40;
  const plotBottom = plotTop + items.length * rowHeight;
  const parts = [text(x0 + width / 2, y0 + 18, 'Throughput, requests/s (log scale)', 'text-anchor="middle" font-size="15" font-weight="bold"')];
  for (let v = lo; v <= hi; v *= 10) {
    parts.push(`<line x1="${xOf(v)}" y1="${plotTop - 4}" x2="${xOf(v)}" y2="${plotBottom}" stroke="#ddd"/>`);
    parts.push(
      text(xOf(v), plotBottom + 14, v >= 1e6 ? `${v / 1e6}M` : v >= 1e3 ? `${v / 1e3}k` : String(v), 'text-anchor="middle" font-size="10" fill="#555"'),
    );
  }
  items.forEach((item, i) => {
    const y = plotTop + i * rowHeight;
    parts.push(text(plotX - 8, y + 15, item.label, 'text-anchor="end" font-size="12"'));
    parts.push(`<rect x="${plotX}" y="${y + 4}" width="${Math.max(1, xOf(item.value) - plotX).toFixed(1)}" height="${rowHeight - 8}" fill="${item.color}"/>`);
    parts.push(text(xOf(item.value) + 4, y + 15, fmt(item.value), 'font-size="11"'));
  });
  return parts.join('\n');
}

/** Latency percentiles grouped by offered rate, with a legend and the flush cycle drawn across. */
function latencyPanel(x0: number, y0: number, width: number, height: number, r: ChartInput): string {
  const plotX = x0 + 50;
  const plotTop = y0 + 60;
  const plotBottom = y0 + height - 50;
  const plotWidth = width - 70;
  const groups = r.latency;
  const max = Math.max(r.cycle.medianMs * 3.3, ...groups.map((g) => g.p99)) * 1.1;
  // Log scale when the bars dwarf the cycle (more than 20x): the cycle and its 3x line stay readable.
  const log = max / Math.max(0.1, r.cycle.medianMs) > 20;
  const step = niceStep(max / 5);
  const top = log ? 10 ** Math.ceil(Math.log10(max)) : Math.ceil(max / step) * step;
  const bottom = log ? 10 ** Math.floor(Math.log10(Math.max(0.1, Math.min(r.cycle.medianMs, ...groups.map((g) => g.p50)) / 2))) : 0;
  const yOf = (v: number) =>
    log
      ? plotBottom - ((Math.log10(Math.max(v, bottom)) - Math.log10(bottom)) / (Math.log10(top) - Math.log10(bottom))) * (plotBottom - plotTop)
      : plotBottom - (v / top) * (plotBottom - plotTop);
  const parts = [
    text(
      x0 + width / 2,
      y0 + 18,
      `End-to-end latency (ms) by offered rate${log ? ' (log scale)' : ''}`,
      'text-anchor="middle" font-size="15" font-weight="bold"',
    ),
  ];
  // Legend on its own line, above the plot: it never covers a bar.
  const legend: [string, string][] = [
    ['p50', COLORS.p50],
    ['p95', COLORS.p95],
    ['p99', COLORS.p99],
  ];
  legend.forEach(([name, color], i) => {
    const lx = x0 + 20 + i * 60;
    parts.push(`<rect x="${lx}" y="${y0 + 32}" width="12" height="12" fill="${color}"/>`, text(lx + 16, y0 + 42, name, 'font-size="11"'));
  });
  parts.push(
    `<line x1="${x0 + 200}" y1="${y0 + 38}" x2="${x0 + 224}" y2="${y0 + 38}" stroke="${COLORS.cycle}" stroke-width="2"/>`,
    text(x0 + 228, y0 + 42, `flush cycle ${r.cycle.medianMs} ms`, 'font-size="11"'),
  );
  parts.push(
    `<line x1="${x0 + 350}" y1="${y0 + 38}" x2="${x0 + 374}" y2="${y0 + 38}" stroke="${COLORS.cycle}" stroke-width="1.5" stroke-dasharray="5,3"/>`,
    text(x0 + 378, y0 + 42, '3x cycle (goal at 50%)', 'font-size="11"'),
  );
  const ticks: number[] = [];
  if (log) for (let v = bottom; v <= top * 1.0001; v *= 10) ticks.push(v);
  else for (let v = 0; v <= top + 1e-9; v += step) ticks.push(v);
  for (const v of ticks) {
    parts.push(
      `<line x1="${plotX}" y1="${yOf(v)}" x2="${plotX + plotWidth}" y2="${yOf(v)}" stroke="#eee"/>`,
      text(plotX - 6, yOf(v) + 4, v < 1 ? String(v) : fmt(v), 'text-anchor="end" font-size="10" fill="#555"'),
    );
  }
  const groupWidth = plotWidth / Math.max(1, groups.length);
  const barWidth = Math.min(40, (groupWidth - 30) / 3);
  groups.forEach((g, i) => {
    const gx = plotX + i * groupWidth + (groupWidth - barWidth * 3) / 2;
    (['p50', 'p95', 'p99'] as const).forEach((p, j) => {
      const x = gx + j * barWidth;
      parts.push(`<rect x="${x}" y="${yOf(g[p])}" width="${barWidth - 2}" height="${Math.max(1, plotBottom - yOf(g[p]))}" fill="${COLORS[p]}"/>`);
      parts.push(text(x + (barWidth - 2) / 2, yOf(g[p]) - 3, fmt(g[p]), 'text-anchor="middle" font-size="10"'));
    });
    const label = `${fmt(g.offeredPerSecond)}/s${g.fractionOfCapacity !== null ? ` (${Math.round(g.fractionOfCapacity * 100)}% of drain)` : ''}${g.settings ? ` ${g.settings}` : ''}`;
    parts.push(text(plotX + i * groupWidth + groupWidth / 2, plotBottom + 16, label, 'text-anchor="middle" font-size="11"'));
  });
  parts.push(
    `<line x1="${plotX}" y1="${yOf(r.cycle.medianMs)}" x2="${plotX + plotWidth}" y2="${yOf(r.cycle.medianMs)}" stroke="${COLORS.cycle}" stroke-width="2"/>`,
  );
  parts.push(
    `<line x1="${plotX}" y1="${yOf(r.cycle.medianMs * 3)}" x2="${plotX + plotWidth}" y2="${yOf(r.cycle.medianMs * 3)}" stroke="${COLORS.cycle}" stroke-width="1.5" stroke-dasharray="5,3"/>`,
  );
  parts.push(`<line x1="${plotX}" y1="${plotBottom}" x2="${plotX + plotWidth}" y2="${plotBottom}" stroke="#333"/>`);
  parts.push(text(x0 + 10, plotBottom + 38, 'from the producer send to the audit publish that follows the MySQL commit', 'font-size="10" fill="#555"'));
  return parts.join('\n');
}

function movingAverage(values: readonly number[], window: number): number[] {
  return values.map((_, i) => {
    const slice = values.slice(Math.max(0, i - window + 1), i + 1);
    return slice.reduce((a, b) => a + b, 0) / slice.length;
  });
}

/** A round step (1, 2 or 5 times a power of ten) near `x`. */
function niceStep(x: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(x, 1e-9)));
  const m = x / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

export function benchChart(r: ChartInput): string {
  const throughput = [
    { label: 'naive (1 at a time/partition)', value: r.naive.perSecond, color: COLORS.naive },
    ...r.drain.map((d) => ({ label: `pipeline, ${d.processes} process${d.processes > 1 ? 'es' : ''}`, value: d.perSecond, color: COLORS.pipeline })),
    ...(r.capped ? [{ label: `pipeline, heap capped`, value: r.capped.perSecond, color: COLORS.pipeline }] : []),
    ...(r.peer && 'perSecond' in r.peer ? [{ label: 'Kafka Connect JDBC sink', value: r.peer.perSecond, color: COLORS.peer }] : []),
    { label: 'combined raw ceiling', value: r.ratios.combinedCeiling, color: COLORS.ceiling },
    ...Object.entries(r.raw).map(([stage, s]) => ({ label: `raw ${stage}`, value: s.perSecond, color: COLORS.raw })),
  ];
  const topHeight = 40 + throughput.length * 26 + 30;
  const latencyHeight = 320;
  const width = 900;
  const height = topHeight + latencyHeight + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    throughputPanel(10, 0, width - 20, throughput),
    latencyPanel(10, topHeight, width - 20, latencyHeight, r),
    '</svg>',
  ].join('\n');
}

interface SustainedInput {
  offeredTarget: number;
  seconds: number;
  series: { second: number; offered: number; decided: number; lag: number }[];
}

/** Offered vs decided per second (top) and the lag (bottom) over the sustained run. */
export function sustainedChart(r: SustainedInput): string {
  const width = 900;
  const plotX = 80;
  const plotWidth = width - plotX - 30;
  const s = r.series;
  const last = Math.max(1, s[s.length - 1]?.second ?? 1);
  const xOf = (sec: number) => plotX + (sec / last) * plotWidth;
  const panel = (y0: number, h: number, title: string, series: { name: string; color: string; values: number[]; dash?: string }[]) => {
    const top0 = Math.max(1, ...series.flatMap((x) => x.values)) * 1.1;
    const step = niceStep(top0 / 4);
    const top = Math.ceil(top0 / step) * step;
    const plotTop = y0 + 58;
    const plotBottom = y0 + h - 30;
    const yOf = (v: number) => plotBottom - (v / top) * (plotBottom - plotTop);
    const parts = [text(width / 2, y0 + 18, title, 'text-anchor="middle" font-size="15" font-weight="bold"')];
    for (let v = 0; v <= top + 1e-9; v += step) {
      parts.push(
        `<line x1="${plotX}" y1="${yOf(v)}" x2="${plotX + plotWidth}" y2="${yOf(v)}" stroke="#eee"/>`,
        text(plotX - 6, yOf(v) + 4, fmt(v), 'text-anchor="end" font-size="10" fill="#555"'),
      );
    }
    series.forEach((x, i) => {
      const points = s.map((p, k) => `${xOf(p.second).toFixed(1)},${yOf(x.values[k]!).toFixed(1)}`).join(' ');
      parts.push(`<polyline points="${points}" fill="none" stroke="${x.color}" stroke-width="1.8"${x.dash ? ` stroke-dasharray="${x.dash}"` : ''}/>`);
      // The legend has its own line between the title and the plot.
      const lx = plotX + 10 + i * 150;
      parts.push(
        `<line x1="${lx}" y1="${y0 + 38}" x2="${lx + 20}" y2="${y0 + 38}" stroke="${x.color}" stroke-width="2"${x.dash ? ` stroke-dasharray="${x.dash}"` : ''}/>`,
        text(lx + 24, y0 + 42, x.name, 'font-size="11"'),
      );
    });
    const tick = niceStep(last / 8);
    for (let t = 0; t <= last; t += tick) parts.push(text(xOf(t), plotBottom + 14, `${t} s`, 'text-anchor="middle" font-size="10" fill="#555"'));
    parts.push(`<line x1="${plotX}" y1="${plotBottom}" x2="${plotX + plotWidth}" y2="${plotBottom}" stroke="#333"/>`);
    // Where production stopped: after it, the curves show the drain of what was left.
    if (r.seconds < last) {
      parts.push(`<line x1="${xOf(r.seconds)}" y1="${plotTop}" x2="${xOf(r.seconds)}" y2="${plotBottom}" stroke="#999" stroke-dasharray="2,3"/>`);
      parts.push(text(xOf(r.seconds) - 4, plotTop + 10, 'production stops', 'text-anchor="end" font-size="10" fill="#555"'));
    }
    return parts.join('\n');
  };
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="560" font-family="sans-serif">`,
    `<rect width="${width}" height="560" fill="white"/>`,
    panel(0, 300, `Sustained load: ${fmt(r.offeredTarget)}/s offered for ${r.seconds} s, requests per second`, [
      { name: 'offered', color: '#7f8c8d', values: s.map((p) => p.offered), dash: '5,3' },
      { name: 'decided', color: '#aed6f1', values: s.map((p) => p.decided) },
      // Flushes commit up to 2,000 at a time, so the per-second count is spiky; the average reads at a glance.
      {
        name: 'decided, 5 s average',
        color: '#1f618d',
        values: movingAverage(
          s.map((p) => p.decided),
          5,
        ),
      },
    ]),
    panel(300, 260, 'Lag (requests produced, not yet committed)', [{ name: 'lag', color: '#c0392b', values: s.map((p) => p.lag) }]),
    '</svg>',
  ].join('\n');
}
