import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * A package name run through `npx` without --no-install comes from the npm registry whenever the
 * checkout's own is not installed (before `npm ci`, or from another directory): for `redeem` that is an unrelated package.
 * No command we document, print or run may be written that way; `npx --no-install` (or `--no`) is fine.
 */
describe('advice never resolves to a foreign npm package', () => {
  // Built from parts so that this file does not match itself.
  const unsafe = new RegExp(`\\b${'np'}x\\s+(?!--no-install\\b|--no\\b)[\\w@]`, 'g');
  const files = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter((f) => f && f !== 'package-lock.json' && f !== 'CHANGELOG.md' && !f.startsWith('bench/results/'));

  it('covers the README, CI script, CLI and tests', () => {
    for (const f of ['README.md', '.ci/run', 'cli/main.ts', 'test/integration/helpers.ts']) expect(files).toContain(f);
  });

  it('finds no unsafe `npx` call in any tracked file', () => {
    const found = files.flatMap((f) =>
      readFileSync(`${ROOT}/${f}`, 'utf8')
        .split('\n')
        .flatMap((line, i) => (line.match(unsafe) ? [`${f}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(found).toEqual([]);
  });

  it('the README tells how to run the CLI safely', () => {
    const readme = readFileSync(`${ROOT}/README.md`, 'utf8');
    expect(readme).toContain('npm run redeem -- demo');
    expect(readme).toContain('npx --no-install redeem');
  });
});
