import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { CHECKOUT_DIR } from '../../scripts/checkout-dir.js';

/**
 * The suite spawns `redeem` a few hundred times; through tsx each start compiles the CLI's modules
 * again (1.0-1.7 s here), compiled it starts in 0.7-0.8 s. So the global setup compiles the checkout's
 * current source once per run, with tsconfig.cli.json (as `npm run build:cli`), into a
 * folder of the run's own (a build is never reused, so a test never runs stale code, and two runs never
 * write each other's), and removes it at the end. Types are not checked here: `npm run typecheck` does
 * that, and a type error must not hide what the tests would say.
 */
export interface CompiledCli {
  /** The `redeem` entry to run with node (scripts/redeem.ts compiled). */
  entry: string;
  remove(): void;
}

const BUILDS_DIR = join(CHECKOUT_DIR, 'node_modules', '.cache', 'redeem-test-build');

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: CHECKOUT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${[command, ...args].join(' ')} exited ${code}:\n${output}`))));
  });
}

/** Builds left behind by runs that were killed (named after their process id). */
function removeStaleBuilds(): void {
  if (!existsSync(BUILDS_DIR)) return;
  for (const build of readdirSync(BUILDS_DIR)) {
    const pid = Number(build.split('-')[0]);
    if (!existsSync(`/proc/${pid}`)) rmSync(join(BUILDS_DIR, build), { recursive: true, force: true });
  }
}

export async function compileCli(): Promise<CompiledCli> {
  removeStaleBuilds();
  const outDir = join(BUILDS_DIR, `${process.pid}-${randomBytes(3).toString('hex')}`);
  mkdirSync(outDir, { recursive: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  try {
    await run(process.execPath, [tsc, '-p', 'tsconfig.cli.json', '--outDir', outDir, '--noCheck']);
    await run(process.execPath, ['scripts/copy-schemas.mjs', outDir]);
  } catch (e) {
    rmSync(outDir, { recursive: true, force: true });
    throw e;
  }
  return { entry: join(outDir, 'scripts', 'redeem.js'), remove: () => rmSync(outDir, { recursive: true, force: true }) };
}
