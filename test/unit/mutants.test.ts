import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { applyEdits, markerProblems } from '../../scripts/mutants/markers.js';
import { MUTANTS } from '../../scripts/mutants/mutants.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * `npm run test:mutants` runs outside `npm test`; this keeps its mutants in step with the source during
 * `npm test`, so a rewrite that moves a marker or the code next to it is told at once.
 */
describe('the mutants of test:mutants', () => {
  it('find their markers in the source, and every edit applies', () => {
    const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(markerProblems(ROOT, files)).toEqual([]);
  });

  it('fail loudly when a marker is missing or an edit no longer applies', () => {
    const m = MUTANTS.find((x) => x.name === 'quota-off-by-one');
    if (m?.kind !== 'source') throw new Error('quota-off-by-one is a source mutant');
    expect(applyEdits(m, '  // mutant: quota-off-by-one\n  if (coupon.redeemedCount >= terms.quota) return;\n')).toContain(
      'coupon.redeemedCount > terms.quota',
    );
    expect(() => applyEdits(m, 'if (coupon.redeemedCount >= terms.quota) return;\n')).toThrow(/marker "mutant: quota-off-by-one" not found/);
    expect(() => applyEdits(m, '// mutant: quota-off-by-one\nif (count >= quota) return;\n')).toThrow(/not found within 12 lines after the marker/);
  });
});
