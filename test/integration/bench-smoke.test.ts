import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { runCli } from './helpers.js';

describe('the benchmark, smoke size', () => {
  // Checks that the benchmark runs end to end and writes a complete result; it asserts no speed.
  it('runs every part and writes valid JSON and an SVG chart', async () => {
    const out = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
    const result = await runCli(['bench', '--smoke', '--out', out], {}, 300_000);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/every run correct\s+yes/);
    const files = readdirSync(out);
    const json = files.find((f) => f.endsWith('.json'))!;
    expect(files).toContain(json.replace(/\.json$/, '.svg'));
    expect(readFileSync(join(out, json.replace(/\.json$/, '.svg')), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>$/);
    const r = JSON.parse(readFileSync(join(out, json), 'utf8')) as Record<string, unknown> & {
      drain: { processes: number; perSecond: number; correct: boolean }[];
      latency: { offeredPerSecond: number; p50: number; p99: number; correct: boolean }[];
      raw: Record<string, { perSecond: number }>;
    };
    expect(Object.keys(r)).toEqual(
      expect.arrayContaining([
        'machine',
        'settings',
        'drain',
        'naive',
        'pipelineOverNaive',
        'raw',
        'slowestRawStage',
        'pipelineShareOfSlowestStage',
        'latency',
        'cost',
        'correct',
      ]),
    );
    expect(r.drain.map((d) => d.processes)).toEqual([1, 2]);
    expect(r.drain.every((d) => d.perSecond > 0 && d.correct)).toBe(true);
    expect(Object.keys(r.raw).sort()).toEqual(['kafka', 'mysql', 'redis']);
    expect(r.latency).toHaveLength(1);
    expect(r.latency[0]!.p99).toBeGreaterThanOrEqual(r.latency[0]!.p50);
    expect(r.correct).toBe(true);
  }, 320_000);
});
