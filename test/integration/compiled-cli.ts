import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { build } from 'esbuild';

import { CHECKOUT_DIR } from '../../scripts/checkout-dir.js';

/**
 * The suite spawns `redeem` about 400 times, and a start was most of what many of those processes cost:
 * through tsx 1.0-1.7 s of CPU, compiled by tsc 0.7-0.8 s on a quiet host, nearly all of it Node loading
 * and compiling a few thousand modules. So the global setup bundles the checkout's current source once per
 * run (scripts/redeem.ts, the CLI and its tools, with the packages they use) into one CommonJS file, and
 * a small loader runs it with V8's code cache, written by a few warm-up starts: a start then costs about
 * a quarter of the tsc build's CPU. The build goes into a folder of the run's own (a build is never
 * reused, so a test never runs stale code, and two runs never write each other's) and is removed at the
 * end. Types are not checked here: `npm run typecheck` does that, and a type error must not hide what the
 * tests would say. `npm run build:cli` (tsc, dist-cli/) stays the build a user runs.
 */
export interface CompiledCli {
  /** The `redeem` entry to run with node (the loader of the bundle). */
  entry: string;
  remove(): void;
}

const BUILDS_DIR = join(CHECKOUT_DIR, 'node_modules', '.cache', 'redeem-test-build');

/**
 * Packages that stay outside the bundle, required from node_modules when used: a native binary
 * (DuckDB), test and bench tools, and the database drivers knex names but this project does not install.
 */
const EXTERNAL = [
  '@duckdb/*',
  'autocannon',
  'playwright-core',
  'better-sqlite3',
  'mariadb',
  'mysql',
  'oracledb',
  'pg',
  'pg-query-stream',
  'sqlite3',
  'tedious',
];

/**
 * Runs bundle.cjs beside it as a CommonJS module (itself an ES module, as the checkout's package.json
 * makes every .js file: a package.json of the build's own would make the build the checkout that
 * scripts/checkout-dir.ts finds), with the code cache in bundle.cache when there is one
 * (V8 compiles what the cache lacks, or all of it when the cache does not fit the source or the flags).
 * With REDEEM_WRITE_CODE_CACHE set, the process writes the cache at exit: what it compiled and what the
 * cache it started with held.
 */
const LOADER = `import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const dir = dirname(fileURLToPath(import.meta.url));
const file = join(dir, 'bundle.cjs');
const cacheFile = join(dir, 'bundle.cache');
const cachedData = existsSync(cacheFile) ? readFileSync(cacheFile) : undefined;
const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
const bundle = new Module(file);
bundle.filename = file;
bundle.paths = Module._nodeModulePaths(dir);
if (process.env.REDEEM_WRITE_CODE_CACHE) {
  process.on('exit', () => {
    writeFileSync(cacheFile + '.tmp', script.createCachedData());
    renameSync(cacheFile + '.tmp', cacheFile);
  });
}
script.runInThisContext().call(bundle.exports, bundle.exports, Module.createRequire(file), bundle, file, dir);
`;

/**
 * The starts whose compiled code the cache keeps: the commands' modules load when a command runs (even
 * for its help), so the help of the commands the tests spawn most loads what their starts load.
 */
const WARM_UP = [['--help'], ['consume', '--help'], ['produce', '--help'], ['verify', '--help'], ['audit', 'stats', '--help'], ['bench', '--help']];

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: CHECKOUT_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
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
  const entry = join(outDir, 'redeem.js');
  try {
    await build({
      entryPoints: [join(CHECKOUT_DIR, 'scripts', 'redeem.ts')],
      outfile: join(outDir, 'bundle.cjs'),
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: EXTERNAL,
      // One module: every import.meta.url in it is the bundle's own, so the files the source reads
      // beside itself (schemas/avro.ts: the .avsc files) are copied beside the bundle.
      define: { 'import.meta.url': '__bundleUrl' },
      banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
      // Every start reads and hands V8 the whole bundle, and on this host reading its 7 MB (comments,
      // indentation, nine non-ASCII characters in comments that make the source a two-byte string) cost
      // about 0.1 s of each start's 0.4 s of CPU: without them it is 4.8 MB of ASCII and a start costs
      // 0.33 s (10 starts each, 2026-12-05). Names stay as written (no identifier minification), so
      // stack traces still name the functions.
      minifyWhitespace: true,
      minifySyntax: true,
      legalComments: 'none',
      logLevel: 'error',
    });
    for (const file of readdirSync(join(CHECKOUT_DIR, 'schemas')).filter((f) => f.endsWith('.avsc')))
      copyFileSync(join(CHECKOUT_DIR, 'schemas', file), join(outDir, file));
    writeFileSync(entry, LOADER);
    // One after the other: each starts from the cache the one before wrote.
    for (const args of WARM_UP) await run(process.execPath, [entry, ...args], { ...process.env, REDEEM_WRITE_CODE_CACHE: '1' });
  } catch (e) {
    rmSync(outDir, { recursive: true, force: true });
    throw e;
  }
  return { entry, remove: () => rmSync(outDir, { recursive: true, force: true }) };
}
