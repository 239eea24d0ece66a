import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import type { PartialBenchResult } from '../../bench/run.js';
import { runCli } from './helpers.js';

describe('the benchmark, one stage at a time', () => {
  // A stage runs alone with what it needs: latency takes the 1-process drain (its capacity) and the
  // flush cycle (its yardstick), and reports them; nothing else runs. It asserts no speed.
  it('bench --smoke --only latency runs the latency series and its prerequisites, and --compare reads the file', async () => {
    const out = mkdtempSync(join(tmpdir(), 'bench-stages-'));
    const result = await runCli(['bench', '--smoke', '--only', 'latency', '--out', out], {}, 240_000);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/every run correct\s+yes/);
    expect(result.stdout).not.toMatch(/naive|raw kafka|recovery/);
    const json = readdirSync(out).find((f) => f.endsWith('.json'))!;
    const r = JSON.parse(readFileSync(join(out, json), 'utf8')) as PartialBenchResult;
    expect(r.stages).toEqual(['latency']);
    expect(r.drain?.map((d) => d.processes)).toEqual([1]);
    expect(r.cycle?.samples).toBeGreaterThan(0);
    expect(r.latency?.map((l) => l.fractionOfCapacity)).toEqual([0.5]);
    expect(r).not.toHaveProperty('naive');
    expect(r).not.toHaveProperty('recovery');
    expect(r.correct).toBe(true);
    const compared = await runCli(['bench', '--compare', join(out, json), join(out, json)], {}, 60_000);
    expect(compared.code, compared.stderr).toBe(0);
    expect(compared.stdout).toMatch(/^0 of \d+ figures changed by more than 10%$/m);
  }, 260_000);
});
