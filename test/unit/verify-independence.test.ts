/**
 * verify/ is the independent reference the pipeline is checked against: it must share no code with what
 * it checks. No module verify/ reaches through its imports (static or dynamic, followed transitively
 * through lib/, schemas/ and the rest) may be in consumers/.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The project files a module imports (relative specifiers only; packages are not the project's). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!);
  return specifiers.map((s) => resolve(dirname(file), s).replace(/\.js$/, '.ts')).filter((f) => existsSync(f));
}

function reachableFrom(entries: string[]): Set<string> {
  const seen = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    queue.push(...importsOf(file));
  }
  return seen;
}

describe('verify/', () => {
  const entries = readdirSync(join(ROOT, 'verify'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(ROOT, 'verify', f));

  it('reaches no module of consumers/, directly or through what it imports', () => {
    const reached = [...reachableFrom(entries)].map((f) => relative(ROOT, f));
    expect(reached.length).toBeGreaterThan(entries.length);
    expect(reached.filter((f) => f.startsWith('consumers/'))).toEqual([]);
  });

  it('the scan follows the imports of the project (it sees what a module imports)', () => {
    expect(importsOf(join(ROOT, 'consumers/partition-contract.ts')).map((f) => relative(ROOT, f))).toContain('schemas/partitioning.ts');
  });
});
