import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { compareResults, figuresOf, formatComparison } from '../../bench/compare.js';

const load = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as unknown;
const a = load('bench-a.json');
const b = load('bench-b.json');

describe('bench --compare', () => {
  it('pairs runs by what identifies them, not by position, and leaves settings and time series out', () => {
    const figures = figuresOf(a);
    expect(figures.get('drain[processes=1].perSecond')).toBe(20000);
    expect(figures.get('latency[at=25%].p99')).toBe(50);
    expect([...figures.keys()].some((k) => k.startsWith('settings') || k.startsWith('machine') || k.includes('series'))).toBe(false);
  });

  it('flags exactly the figures that moved by more than 10%', () => {
    const byPath = new Map(compareResults(a, b).map((f) => [f.path, f]));
    // 20,000 -> 23,000: +15%, flagged; although process 1 is second in B's array.
    expect(byPath.get('drain[processes=1].perSecond')).toMatchObject({ a: 20000, b: 23000, flagged: true });
    expect(byPath.get('drain[processes=1].perSecond')!.change).toBeCloseTo(0.15);
    // 21,000 -> 21,500: +2.4%, not flagged; 290 -> 250 MiB: -13.8%, flagged.
    expect(byPath.get('drain[processes=2].perSecond')!.flagged).toBe(false);
    expect(byPath.get('drain[processes=2].peakRssMiB')!.flagged).toBe(true);
    // 500 -> 500 unchanged; 50 -> 40 ms is -20%.
    expect(byPath.get('naive.perSecond')).toMatchObject({ change: 0, flagged: false });
    expect(byPath.get('latency[at=25%].p99')).toMatchObject({ a: 50, b: 40, flagged: true });
    // A figure only one side has is shown, never flagged.
    expect(byPath.get('ratios.p99OverCycleAt50')).toMatchObject({ a: null, b: 2.5, change: null, flagged: false });
    const flagged = [...byPath.values()]
      .filter((f) => f.flagged)
      .map((f) => f.path)
      .sort();
    expect(flagged).toEqual([
      'drain[processes=1].perSecond',
      'drain[processes=2].peakRssMiB',
      'latency[at=25%].offeredPerSecond',
      'latency[at=25%].p99',
      'ratios.pipelineOverNaive',
    ]);
  });

  it('pairs a what-if run by its settings and keeps every run at a repeated rate', () => {
    const run = (offeredPerSecond: number, p99: number, extra: Record<string, unknown> = {}) => ({ offeredPerSecond, fractionOfCapacity: null, p99, ...extra });
    const fileA = { latency: [run(9000, 50), run(9000, 70), run(10886, 90, { settings: 'FETCH_MAX_WAIT_MS=10' })] };
    const fileB = { latency: [run(9000, 55), run(9000, 140), run(10928, 80, { settings: 'FETCH_MAX_WAIT_MS=10' })] };
    const byPath = new Map(compareResults(fileA, fileB).map((f) => [f.path, f]));
    expect(byPath.get('latency[offered=9000].p99')).toMatchObject({ a: 50, b: 55, flagged: false });
    expect(byPath.get('latency[offered=9000#2].p99')).toMatchObject({ a: 70, b: 140, flagged: true });
    expect(byPath.get('latency[what-if FETCH_MAX_WAIT_MS=10].p99')).toMatchObject({ a: 90, b: 80, flagged: true });
    expect(byPath.get('latency[what-if FETCH_MAX_WAIT_MS=10].offeredPerSecond')).toMatchObject({ a: 10886, b: 10928, flagged: false });
    expect(byPath.size).toBe(6);
  });

  it('prints each figure side by side with its change and a marker on the flagged ones', () => {
    const text = formatComparison(compareResults(a, b), 'A', 'B');
    const line = text.split('\n').find((l) => l.startsWith('drain[processes=1].perSecond'))!;
    expect(line).toMatch(/20,000\s+23,000\s+\+15\.0%\s+<<$/);
    expect(text.split('\n').find((l) => l.startsWith('naive.perSecond'))).toMatch(/500\s+500\s+\+0\.0%$/);
    expect(text).toMatch(/5 of \d+ figures changed by more than 10%/);
  });
});
