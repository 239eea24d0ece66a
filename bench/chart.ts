/**
 * The benchmark's chart as a self-contained SVG: throughput (requests/s) of the pipeline, the naive
 * baseline and the raw stages on the left; end-to-end latency percentiles per offered rate on the right.
 */
interface ChartInput {
  drain: { processes: number; perSecond: number }[];
  naive: { perSecond: number };
  raw: Record<string, { perSecond: number }>;
  latency: { offeredPerSecond: number; p50: number; p95: number; p99: number }[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function bars(x0: number, title: string, unit: string, items: { label: string; value: number; color: string }[]): string {
  const width = 420;
  const height = 260;
  const max = Math.max(1, ...items.map((i) => i.value));
  const bw = Math.min(60, (width - 40) / Math.max(1, items.length) - 10);
  const parts = [`<text x="${x0 + width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`];
  items.forEach((item, i) => {
    const h = Math.max(1, (item.value / max) * (height - 80));
    const x = x0 + 30 + i * (bw + 10);
    const y = height - 40 - h;
    parts.push(`<rect x="${x}" y="${y}" width="${bw}" height="${h}" fill="${item.color}"/>`);
    parts.push(`<text x="${x + bw / 2}" y="${y - 4}" text-anchor="middle" font-size="10">${Math.round(item.value).toLocaleString('en-US')}</text>`);
    parts.push(`<text x="${x + bw / 2}" y="${height - 24}" text-anchor="middle" font-size="10">${esc(item.label)}</text>`);
  });
  parts.push(`<text x="${x0 + 10}" y="${height - 6}" font-size="10" fill="#555">${esc(unit)}</text>`);
  return parts.join('\n');
}

export function benchChart(r: ChartInput): string {
  const throughput = [
    { label: 'naive', value: r.naive.perSecond, color: '#c0392b' },
    ...r.drain.map((d) => ({ label: `pipeline x${d.processes}`, value: d.perSecond, color: '#2e86c1' })),
    ...Object.entries(r.raw).map(([stage, s]) => ({ label: `raw ${stage}`, value: s.perSecond, color: '#7f8c8d' })),
  ];
  const colors = { p50: '#27ae60', p95: '#f39c12', p99: '#8e44ad' };
  const latency = r.latency.flatMap((l) =>
    (['p50', 'p95', 'p99'] as const).map((p) => ({ label: `${l.offeredPerSecond}/s ${p}`, value: l[p], color: colors[p] })),
  );
  return [
    '<svg xmlns="http://www.w3.org/2000/svg" width="900" height="270" font-family="sans-serif">',
    '<rect width="900" height="270" fill="white"/>',
    bars(0, 'Throughput (requests/s)', 'requests decided per second; raw = one stage alone', throughput),
    bars(450, 'End-to-end latency (ms)', 'send to audit publish after the MySQL commit', latency),
    '</svg>',
  ].join('\n');
}
