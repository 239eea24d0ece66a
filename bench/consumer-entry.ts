/**
 * What the benchmark's consumer processes run. A deployment runs the compiled CLI (`npm run build:cli`,
 * dist-cli/), not the TypeScript source through tsx: tsx's loader hooks run in a thread of their own and
 * compile each module at start, which cost the 1-process drain about 22 MiB of peak RSS and 0.005 CPU
 * seconds per 1,000 requests (2 alternated drains each, 2026-12-06: 221-226 MiB compiled, 245-248 MiB
 * through tsx). So by default the bench builds the checkout as `npm run build:cli` does, into a folder
 * of its own, and runs its consumers from that; `--consumer-from source` runs them as the bench itself
 * runs (through tsx from a checkout), to measure that way too.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { CHECKOUT_DIR } from '../scripts/checkout-dir.js';
import { DEFAULT_ENTRY } from '../scripts/harness/consumer-process.js';
import type { ConsumerFrom } from './options.js';

export interface ConsumerEntry {
  /** The `redeem` entry the consumer processes run with node. */
  entry: string;
  /** How it was made, for the report. */
  how: string;
  remove(): void;
}

/** The bench's own launcher through tsx: the one entry that is the source rather than a build. */
const SOURCE_LAUNCHER = join(CHECKOUT_DIR, 'bin', 'redeem.mjs');

export async function consumerEntry(from: ConsumerFrom, print: (line: string) => void): Promise<ConsumerEntry> {
  const unchanged = (how: string): ConsumerEntry => ({ entry: DEFAULT_ENTRY, how, remove: () => {} });
  if (from === 'source') return unchanged(DEFAULT_ENTRY === SOURCE_LAUNCHER ? 'source through tsx (bin/redeem.mjs)' : `as the bench runs (${DEFAULT_ENTRY})`);
  // A bench run from a build (the test suite's, or dist-cli) starts its consumers from that same build.
  if (DEFAULT_ENTRY !== SOURCE_LAUNCHER) return unchanged(`compiled: the build the bench runs from (${DEFAULT_ENTRY})`);
  const outDir = join(CHECKOUT_DIR, 'node_modules', '.cache', 'bench-cli', String(process.pid));
  print('building the consumer as `npm run build:cli` does (tsc), to run it as a deployment does');
  try {
    await run(process.execPath, [
      join(CHECKOUT_DIR, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      join(CHECKOUT_DIR, 'tsconfig.cli.json'),
      '--outDir',
      outDir,
    ]);
    await run(process.execPath, [join(CHECKOUT_DIR, 'scripts', 'copy-schemas.mjs'), outDir]);
  } catch (error) {
    rmSync(outDir, { recursive: true, force: true });
    throw error;
  }
  return {
    entry: join(outDir, 'scripts', 'redeem.js'),
    how: 'compiled (tsc, as npm run build:cli)',
    remove: () => rmSync(outDir, { recursive: true, force: true }),
  };
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: CHECKOUT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`building the consumer failed (${[command, ...args].join(' ')} exited ${code}):\n${output}`)),
    );
  });
}
