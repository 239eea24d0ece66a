import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

import { compareResults, formatComparison } from './compare.js';

/** Reads two result files and formats their comparison; exactly two files, or a usage error. */
export function compareBenchFiles(files: readonly string[]): string {
  if (files.length !== 2) throw new Error(`--compare takes two result files (A.json B.json), got ${files.length}`);
  const [a, b] = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as unknown);
  return formatComparison(compareResults(a, b), basename(files[0]!, '.json'), basename(files[1]!, '.json'));
}
