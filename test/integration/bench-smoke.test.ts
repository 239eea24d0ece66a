import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import type { BenchResult } from '../../bench/run.js';
import { runCli } from './helpers.js';

describe('the benchmark, smoke size', () => {
  // Checks that the benchmark runs end to end and writes a complete result; it asserts no speed.
  it('runs every part and writes valid JSON and an SVG chart', async () => {
    const out = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
    // The checkout stage (three small loads, each with its consumer) adds about a minute.
    const result = await runCli(['bench', '--smoke', '--out', out], {}, 400_000);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/every run correct\s+yes/);
    const files = readdirSync(out);
    const json = files.find((f) => f.endsWith('.json'))!;
    expect(files).toContain(json.replace(/\.json$/, '.svg'));
    expect(readFileSync(join(out, json.replace(/\.json$/, '.svg')), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>$/);
    expect(files).toContain(json.replace(/\.json$/, '-sustained.svg'));
    const r = JSON.parse(readFileSync(join(out, json), 'utf8')) as BenchResult;
    expect(Object.keys(r)).toEqual(
      expect.arrayContaining([
        'machine',
        'settings',
        'drain',
        'capped',
        'naive',
        'raw',
        'cycle',
        'latency',
        'sustained',
        'checkout',
        'recovery',
        'ratios',
        'cost',
        'correct',
      ]),
    );
    expect(r.drain.map((d) => d.processes)).toEqual([1, 2]);
    expect(r.drain.every((d) => d.perSecond > 0 && d.correct)).toBe(true);
    expect(r.capped?.correct).toBe(true);
    // The naive baseline consumed every partition at once and decided correctly.
    expect(r.naive.partitionsConcurrently).toBe(6);
    expect(Object.keys(r.raw).sort()).toEqual(['kafka', 'mysql', 'redis']);
    expect(r.rawRowsCorrect).toBe(true);
    expect(r.ratios.combinedCeiling).toBeLessThanOrEqual(Math.min(...Object.values(r.raw).map((x) => x.perSecond)));
    expect(r.cycle.samples).toBeGreaterThan(0);
    expect(r.latency).toHaveLength(1);
    expect(r.latency[0]!.fractionOfCapacity).toBe(0.5);
    expect(r.latency[0]!.p99).toBeGreaterThanOrEqual(r.latency[0]!.p50);
    expect(r.sustained!.series.length).toBeGreaterThan(0);
    // The checkout stage: every request answered with its decision, each the one MySQL stored; sane figures.
    const k = r.checkout!;
    for (const w of [k.redeem, k.http]) {
      expect(w.requests).toBeGreaterThan(0);
      expect(w.decidedInTime).toBe(w.requests);
      expect(w.answersMatchMySql).toBe(true);
      expect(w.p50).toBeGreaterThan(0);
      expect(w.p99).toBeGreaterThanOrEqual(w.p95);
      expect(w.p95).toBeGreaterThanOrEqual(w.p50);
      expect(w.heldBy === null).toBe(w.met);
      expect(w.correct).toBe(true);
    }
    expect(k.intake.accepted).toBeGreaterThan(0);
    expect(k.intake.perSecond).toBeGreaterThan(0);
    expect(k.intake.heldBy === null).toBe(k.intake.met);
    expect(k.intake.correct).toBe(true);
    expect(result.stdout).toMatch(/POST \?wait p99 at 5% of drain\s+\S+ ms {2}\(goal <= 100 ms: (met|NOT met)\)/);
    expect(r.recovery.drainedSeconds).toBeGreaterThan(0);
    expect(r.correct).toBe(true);
    // --compare reads result files (here one against itself: nothing changed, nothing flagged).
    const compared = await runCli(['bench', '--compare', join(out, json), join(out, json)], {}, 60_000);
    expect(compared.code, compared.stderr).toBe(0);
    expect(compared.stdout).toMatch(/^0 of \d+ figures changed by more than 10%$/m);
  }, 420_000);
});
