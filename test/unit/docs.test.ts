/**
 * The README stays a front door (at most 200 lines, the two commands, a link to every handbook page),
 * and no link between the README, the CHANGELOG and docs/ points at a missing file or heading.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const PAGES = readdirSync(join(ROOT, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .map((f) => `docs/${f}`);

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(path: string): Set<string> {
  const text = read(path).replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1]!)));
}

describe('README and docs/', () => {
  it('the README is at most 200 lines and shows the two commands', () => {
    const readme = read('README.md');
    expect(readme.split('\n').length).toBeLessThanOrEqual(200);
    expect(readme).toContain('npm run redeem -- demo');
    expect(readme).toContain('npm test');
  });

  it('the README links every page of docs/', () => {
    const readme = read('README.md');
    expect(PAGES.length).toBeGreaterThanOrEqual(7);
    for (const page of PAGES) expect(readme).toContain(`](${page}`);
  });

  it('every relative link names a file that exists, and a heading that exists in it', () => {
    const broken: string[] = [];
    for (const from of ['README.md', 'CHANGELOG.md', ...PAGES]) {
      const text = read(from).replace(/```[\s\S]*?```/g, '');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [file, hash] = target!.split('#') as [string, string | undefined];
        const path = file === '' ? from : join(dirname(from), file);
        if (!existsSync(join(ROOT, path))) broken.push(`${from}: ${target} (no such file)`);
        else if (hash !== undefined && path.endsWith('.md') && !anchorsOf(path).has(hash)) broken.push(`${from}: ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });
});
