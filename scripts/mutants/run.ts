/**
 * `npm run test:mutants`: shows that the tests fail when a guarantee breaks. Each mutant of mutants.ts
 * is applied, one at a time, to a copy of the checkout (its tracked and untracked files, node_modules
 * linked entry by entry, a package the mutant changes copied), and only the tests named to catch it
 * run there. A mutant is killed when at least one of those tests fails on it; survived when they all
 * pass. The same tests first run on the unchanged copy (the baseline): a test that fails without any
 * mutant would kill everything and prove nothing.
 *
 *   npm run test:mutants [-- --only NAME,NAME] [-- --no-baseline] [-- --keep] [-- --list]
 *
 * Exit status 0 when every mutant is killed; 1 when one survived, a marker or an edit is missing, or the
 * baseline fails.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import ts from 'typescript';

import { applyEdits, markerProblems, MutantError, patchSection } from './markers.js';
import { type Killers, type Mutant, MUTANTS } from './mutants.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** One mutant's tests may take this long; past it the run is stopped and counted as an error. */
const TIMEOUT_MS = 15 * 60_000;

interface Options {
  only: Set<string> | null;
  baseline: boolean;
  keep: boolean;
  list: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { only: null, baseline: true, keep: false, list: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--only') o.only = new Set((argv[++i] ?? '').split(',').filter(Boolean));
    else if (a.startsWith('--only=')) o.only = new Set(a.slice('--only='.length).split(',').filter(Boolean));
    else if (a === '--no-baseline') o.baseline = false;
    else if (a === '--keep') o.keep = true;
    else if (a === '--list') o.list = true;
    else throw new MutantError(`unknown option ${a} (known: --only NAME,NAME, --no-baseline, --keep, --list)`);
  }
  if (o.only) for (const name of o.only) if (!MUTANTS.some((m) => m.name === name)) throw new MutantError(`--only: no mutant named "${name}"`);
  return o;
}

/** The checkout's files as git sees them (tracked, and untracked but not ignored), relative to ROOT. */
function checkoutFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  return [...new Set(out.split('\0').filter(Boolean))].filter((f) => existsSync(join(ROOT, f)));
}

/** A copy of the checkout in a temporary directory: its files, and node_modules linked entry by entry. */
function makeCopy(files: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'redeem-mutants-'));
  for (const f of files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    cpSync(join(ROOT, f), join(dir, f), { verbatimSymlinks: true });
  }
  mkdirSync(join(dir, 'node_modules'));
  for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
    // Caches of vite/vitest are the copy's own.
    if (entry === '.vite' || entry === '.vite-temp' || entry === '.cache') continue;
    symlinkSync(join(ROOT, 'node_modules', entry), join(dir, 'node_modules', entry));
  }
  return dir;
}

/** Syntax check of a mutated file, so that a mutant is never "killed" by a file that does not parse. */
function assertParses(file: string, text: string): void {
  if (file.endsWith('.ts')) {
    const out = ts.transpileModule(text, {
      fileName: file,
      reportDiagnostics: true,
      compilerOptions: { module: ts.ModuleKind.NodeNext, target: ts.ScriptTarget.ES2022 },
    });
    const errors = (out.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
    if (errors.length > 0) throw new MutantError(`the mutated ${file} does not parse: ${ts.flattenDiagnosticMessageText(errors[0]!.messageText, ' ')}`);
  } else {
    execFileSync(process.execPath, ['--check', file], { stdio: 'pipe' });
  }
}

/** Applies a mutant to the copy; returns how to undo it. */
function applyMutant(copy: string, m: Mutant): () => void {
  if (m.kind === 'source') {
    const path = join(copy, m.file);
    const original = readFileSync(path, 'utf8');
    const mutated = applyEdits(m, original);
    assertParses(path, mutated);
    writeFileSync(path, mutated);
    return () => writeFileSync(path, original);
  }
  // The package becomes a real directory in the copy's node_modules, then the patch's hunks for the
  // file are reverted there; the checkout's node_modules is never written.
  const link = join(copy, 'node_modules', m.package);
  unlinkSync(link);
  cpSync(join(ROOT, 'node_modules', m.package), link, { recursive: true });
  const undo = () => {
    rmSync(link, { recursive: true, force: true });
    symlinkSync(join(ROOT, 'node_modules', m.package), link);
  };
  try {
    const patchFile = join(copy, `.mutant-${m.name}.patch`);
    writeFileSync(patchFile, patchSection(ROOT, m));
    try {
      execFileSync('git', ['apply', '--reverse', '--check', patchFile], { cwd: copy, stdio: 'pipe' });
      execFileSync('git', ['apply', '--reverse', patchFile], { cwd: copy, stdio: 'pipe' });
    } catch (error) {
      throw new MutantError(`${m.name}: ${m.patch}'s hunks for ${m.target} do not revert: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`);
    } finally {
      rmSync(patchFile, { force: true });
    }
    assertParses(join(copy, m.target), readFileSync(join(copy, m.target), 'utf8'));
  } catch (error) {
    undo();
    throw error;
  }
  return undo;
}

interface TestRun {
  ok: boolean;
  /** Tests that failed, by full name, with the first line of their failure. */
  failed: string[];
  /** Test files that failed to load or run outside any test (an error, not a kill). */
  broken: string[];
  tests: number;
  seconds: number;
  log: string;
  timedOut: boolean;
}

interface JsonReport {
  numTotalTests: number;
  testResults: { name: string; status: string; message?: string; assertionResults: { fullName: string; status: string; failureMessages: string[] }[] }[];
}

function runTests(copy: string, killers: Killers, log: string, grep = killers.grep): Promise<TestRun> {
  const json = `${log}.json`;
  const args = [
    join(copy, 'node_modules', 'vitest', 'vitest.mjs'),
    'run',
    '--project',
    killers.project,
    ...killers.files,
    ...(grep ? ['-t', grep] : []),
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${json}`,
  ];
  rmSync(json, { force: true });
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: copy, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    running.child = child.pid ?? null;
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      process.kill(-child.pid!, 'SIGKILL');
    }, TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      running.child = null;
      writeFileSync(log, output);
      const seconds = (Date.now() - started) / 1000;
      let report: JsonReport | null;
      try {
        report = JSON.parse(readFileSync(json, 'utf8')) as JsonReport;
      } catch {
        report = null;
      }
      const failed = (report?.testResults ?? []).flatMap((f) =>
        f.assertionResults.filter((a) => a.status === 'failed').map((a) => `${a.fullName}: ${firstLine(a.failureMessages[0] ?? '')}`),
      );
      const broken = (report?.testResults ?? [])
        .filter((f) => f.status === 'failed' && f.assertionResults.every((a) => a.status !== 'failed'))
        .map((f) => `${relative(copy, f.name)}: ${firstLine(f.message ?? 'failed outside any test')}`);
      if (!report && !timedOut) broken.push(`vitest exited ${code} without a report (see ${log})`);
      resolve({ ok: code === 0 && !timedOut, failed, broken, tests: report?.numTotalTests ?? 0, seconds, log, timedOut });
    });
  });
}

function firstLine(s: string): string {
  const line = s.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.trim().slice(0, 160);
}

const fmt = (s: number) => (s >= 60 ? `${Math.floor(s / 60)} min ${(s % 60).toFixed(0)} s` : `${s.toFixed(1)} s`);
/** Width of the name column: the longest mutant name. */
const NAME_WIDTH = Math.max(...MUTANTS.map((m) => m.name.length)) + 2;
const describeKillers = (k: Killers) =>
  `${k.project}: ${k.files.map((f) => f.replace(/^test\/(unit|integration)\//, '')).join(', ')}${k.grep ? ` -t "${k.grep}"` : ''}`;

/** The baseline: each project's killer files, unchanged, all their tests. */
async function baseline(copy: string, mutants: readonly Mutant[], logs: string): Promise<string[]> {
  const problems: string[] = [];
  for (const project of ['unit', 'integration'] as const) {
    const files = [...new Set(mutants.filter((m) => m.killers.project === project).flatMap((m) => m.killers.files))];
    if (files.length === 0) continue;
    const run = await runTests(copy, { project, files }, join(logs, `baseline-${project}.log`), undefined);
    console.log(`baseline  ${project}: ${files.length} file(s), ${run.tests} tests ${run.ok ? 'passed' : 'FAILED'} in ${fmt(run.seconds)}`);
    if (!run.ok) {
      for (const f of [...run.failed, ...run.broken]) console.log(`          ${f}`);
      problems.push(`baseline ${project} failed (log ${run.log})`);
    }
  }
  return problems;
}

type Verdict = 'KILLED' | 'SURVIVED' | 'ERROR';

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const mutants = MUTANTS.filter((m) => !options.only || options.only.has(m.name));
  if (options.list) {
    for (const m of MUTANTS)
      console.log(`${m.name.padEnd(NAME_WIDTH)} ${m.kind === 'source' ? m.file : m.target}\n  breaks: ${m.breaks}\n  killers: ${describeKillers(m.killers)}`);
    return 0;
  }
  const startedAt = Date.now();
  const files = checkoutFiles();
  const problems = markerProblems(ROOT, files);
  if (problems.length > 0) throw new MutantError(`the mutants do not match the source:\n  ${problems.join('\n  ')}`);
  const copy = makeCopy(files);
  running.copy = options.keep ? null : copy;
  const logs = mkdtempSync(join(tmpdir(), 'redeem-mutants-logs-'));
  console.log(`mutants: ${mutants.length} of ${MUTANTS.length}, applied one at a time to a copy of the checkout in ${copy}; logs in ${logs}`);
  const results: { m: Mutant; verdict: Verdict; seconds: number; detail: string[] }[] = [];
  let baselineSeconds = 0;
  try {
    if (options.baseline) {
      const t = Date.now();
      const problems = await baseline(copy, mutants, logs);
      baselineSeconds = (Date.now() - t) / 1000;
      if (problems.length > 0) {
        console.log(`mutants: not run, the tests that must catch them fail without any mutant: ${problems.join('; ')}`);
        return 1;
      }
    }
    for (const m of mutants) {
      let undo: (() => void) | null = null;
      try {
        undo = applyMutant(copy, m);
        const run = await runTests(copy, m.killers, join(logs, `${m.name}.log`));
        let verdict: Verdict;
        let detail: string[];
        if (run.timedOut) [verdict, detail] = ['ERROR', [`timed out after ${fmt(TIMEOUT_MS / 1000)} (log ${run.log})`]];
        else if (run.ok) [verdict, detail] = ['SURVIVED', [`${run.tests} tests passed with the mutant: a test is missing (log ${run.log})`]];
        else if (run.failed.length > 0) [verdict, detail] = ['KILLED', run.failed];
        else [verdict, detail] = ['ERROR', run.broken.length > 0 ? run.broken : [`the tests failed outside any test (log ${run.log})`]];
        results.push({ m, verdict, seconds: run.seconds, detail });
        console.log(`${verdict.padEnd(9)} ${m.name.padEnd(NAME_WIDTH)} ${fmt(run.seconds).padStart(9)}  ${describeKillers(m.killers)}`);
        for (const d of detail.slice(0, 3)) console.log(`          ${d}`);
        if (detail.length > 3) console.log(`          ... and ${detail.length - 3} more`);
      } catch (error) {
        if (!(error instanceof MutantError)) throw error;
        results.push({ m, verdict: 'ERROR', seconds: 0, detail: [error.message] });
        console.log(`ERROR     ${m.name.padEnd(NAME_WIDTH)} ${error.message}`);
      } finally {
        undo?.();
      }
    }
  } finally {
    if (!options.keep) rmSync(copy, { recursive: true, force: true });
  }
  const count = (v: Verdict) => results.filter((r) => r.verdict === v).length;
  const mutantSeconds = results.reduce((s, r) => s + r.seconds, 0);
  console.log(
    `mutants: ${count('KILLED')} killed, ${count('SURVIVED')} survived, ${count('ERROR')} errors of ${results.length} in ${fmt((Date.now() - startedAt) / 1000)}` +
      ` (baseline ${fmt(baselineSeconds)}, mutants ${fmt(mutantSeconds)})`,
  );
  if (count('KILLED') === results.length && !options.keep) rmSync(logs, { recursive: true, force: true });
  return count('KILLED') === results.length ? 0 : 1;
}

/** What an interrupt must stop and remove: the tests' process group and the copy. */
const running: { child: number | null; copy: string | null } = { child: null, copy: null };
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (running.child !== null) {
      try {
        process.kill(-running.child, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (running.copy !== null) rmSync(running.copy, { recursive: true, force: true });
    console.log(`mutants: interrupted (${signal})`);
    process.exit(130);
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof MutantError ? `mutants: ${error.message}` : error);
    process.exit(1);
  },
);
