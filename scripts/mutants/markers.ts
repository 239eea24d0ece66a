/**
 * Finding and applying the mutants of mutants.ts in a source tree: shared by the runner (run.ts) and by
 * the unit test that keeps markers and edits in step with the source during `npm test`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { MUTANTS, type PatchRevertMutant, type SourceMutant, WINDOW } from './mutants.js';

/** A marker comment: `// mutant: NAME` (TypeScript) or `-- mutant: NAME` (Lua), alone at the end of its line. */
export const MARKER = /(?:\/\/|--)\s*mutant:\s*([a-z0-9-]+)\s*$/;

export class MutantError extends Error {}

/** Applies a source mutant's edits to `text` (the content of `m.file`); throws naming what is missing. */
export function applyEdits(m: SourceMutant, text: string): string {
  const lines = text.split('\n');
  const at = lines.flatMap((line, i) => (MARKER.exec(line)?.[1] === m.name ? [i] : []));
  if (at.length === 0) throw new MutantError(`${m.name}: marker "mutant: ${m.name}" not found in ${m.file}`);
  if (at.length > 1) throw new MutantError(`${m.name}: marker found ${at.length} times in ${m.file} (lines ${at.map((i) => i + 1).join(', ')})`);
  const start = at[0]! + 1;
  let window = lines.slice(start, start + WINDOW).join('\n');
  for (const edit of m.edits) {
    if (!window.includes(edit.search)) {
      throw new MutantError(
        `${m.name}: "${edit.search}" not found within ${WINDOW} lines after the marker (${m.file}:${start}); update scripts/mutants/mutants.ts`,
      );
    }
    window = window.replace(edit.search, edit.replace);
  }
  return [...lines.slice(0, start), window, ...lines.slice(start + WINDOW)].join('\n');
}

/** The part of a patch file that changes the mutant's target (its one `diff --git` section). */
export function patchSection(root: string, m: PatchRevertMutant): string {
  const text = readFileSync(join(root, m.patch), 'utf8');
  const found = text.split(/^(?=diff --git )/m).filter((s) => s.startsWith(`diff --git a/${m.target} b/${m.target}\n`));
  if (found.length !== 1) throw new MutantError(`${m.name}: ${m.patch} has ${found.length} sections for ${m.target} (expected 1)`);
  return found[0]!;
}

/**
 * What does not match between the mutants and the source under `root`: a marker naming no mutant or
 * sitting in another file than its definition says, a mutant whose marker is missing or doubled, an
 * edit that no longer applies, a patch section that is gone. `files`: the tree's files, relative to root.
 */
export function markerProblems(root: string, files: readonly string[]): string[] {
  const problems: string[] = [];
  for (const f of files) {
    if (!/\.(ts|js|mjs)$/.test(f) || f.startsWith('scripts/mutants/') || f.startsWith('test/')) continue;
    readFileSync(join(root, f), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        const name = MARKER.exec(line)?.[1];
        if (name === undefined) return;
        const m = MUTANTS.find((x) => x.name === name);
        if (!m) problems.push(`${f}:${i + 1}: marker "mutant: ${name}" names no mutant in scripts/mutants/mutants.ts`);
        else if (m.kind !== 'source' || m.file !== f) problems.push(`${f}:${i + 1}: marker "mutant: ${name}" is not in the file its definition names`);
      });
  }
  for (const m of MUTANTS) {
    try {
      if (m.kind === 'source') applyEdits(m, readFileSync(join(root, m.file), 'utf8'));
      else patchSection(root, m);
    } catch (error) {
      if (!(error instanceof MutantError)) throw error;
      problems.push(error.message);
    }
  }
  const names = MUTANTS.map((m) => m.name);
  for (const name of new Set(names)) if (names.filter((n) => n === name).length > 1) problems.push(`mutant "${name}" is defined twice`);
  return problems;
}
