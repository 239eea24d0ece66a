/**
 * `redeem bench --compare A.json B.json`: every numeric figure of two result files side by side, with
 * the change, flagged when it moved by more than the threshold (10% by default). Figures are found by
 * walking both files (so older result files, with fewer figures, compare on what they share); arrays of
 * runs are keyed by what identifies a run (processes, offered rate), not by position, and per-second
 * samples and settings are left out: they are not results.
 */
import { numberRepeats } from './repeats.js';

export interface ComparedFigure {
  path: string;
  a: number | null;
  b: number | null;
  /** (b - a) / a; null when either side is missing or a is 0 */
  change: number | null;
  flagged: boolean;
}

const SKIPPED = new Set(['series', 'settings', 'machine']);

/** Flattens the numeric leaves of a result into path → value. */
export function figuresOf(value: unknown, path = '', out = new Map<string, number>()): Map<string, number> {
  if (typeof value === 'number' && Number.isFinite(value)) out.set(path, value);
  else if (Array.isArray(value)) {
    const keys = keysOf(value);
    value.forEach((item, i) => figuresOf(item, `${path}[${keys[i]}]`, out));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (!SKIPPED.has(k)) figuresOf(v, path ? `${path}.${k}` : k, out);
  }
  return out;
}

/**
 * What identifies an element of a runs array: its process count; a latency run's settings (the what-if,
 * whose rate is 50% of each file's own drain), fraction of capacity, or fixed rate; else its position. A
 * key that repeats in one array (`--rates 9000,9000`) is numbered in order (`offered=9000#2`): keyed by
 * the rate alone, the later run's figures replaced the earlier one's, and a what-if keyed by its rate
 * never met its counterpart in a file whose drain differed.
 */
function keysOf(items: readonly unknown[]): string[] {
  return numberRepeats(
    items.map((item, i) => keyOf(item, i)),
    (n) => `#${n}`,
  );
}

function keyOf(item: unknown, index: number): string {
  if (item !== null && typeof item === 'object') {
    const o = item as Record<string, unknown>;
    if (typeof o.processes === 'number') return `processes=${o.processes}`;
    if (typeof o.offeredPerSecond === 'number') {
      if (typeof o.settings === 'string') return `what-if ${o.settings}`;
      return o.fractionOfCapacity != null ? `at=${Math.round(Number(o.fractionOfCapacity) * 100)}%` : `offered=${o.offeredPerSecond}`;
    }
  }
  return String(index);
}

export function compareResults(a: unknown, b: unknown, threshold = 0.1): ComparedFigure[] {
  const fa = figuresOf(a);
  const fb = figuresOf(b);
  const paths = [...new Set([...fa.keys(), ...fb.keys()])];
  return paths.map((path) => {
    const va = fa.get(path) ?? null;
    const vb = fb.get(path) ?? null;
    const change = va !== null && vb !== null && va !== 0 ? (vb - va) / Math.abs(va) : null;
    return { path, a: va, b: vb, change, flagged: change !== null && Math.abs(change) > threshold };
  });
}

export function formatComparison(figures: readonly ComparedFigure[], nameA: string, nameB: string, threshold = 0.1): string {
  const show = (x: number | null) => (x === null ? '-' : Number.isInteger(x) ? x.toLocaleString('en-US') : String(Math.round(x * 100) / 100));
  const rows = figures.map((f) => [
    f.path,
    show(f.a),
    show(f.b),
    f.change === null ? '' : `${f.change >= 0 ? '+' : ''}${(f.change * 100).toFixed(1)}%`,
    f.flagged ? '<<' : '',
  ]);
  const header = ['figure', nameA, nameB, 'change', `>${Math.round(threshold * 100)}%`];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const flagged = figures.filter((f) => f.flagged).length;
  return [line(header), ...rows.map(line), '', `${flagged} of ${figures.length} figures changed by more than ${Math.round(threshold * 100)}%`].join('\n');
}
