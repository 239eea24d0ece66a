/**
 * A `redeem consume` child process, as an operator runs it: the one wrapper the tests, the chaos run and
 * the benchmark start consumers with. Its figures come from its machine-readable log lines (pino JSON on
 * stderr), never from the human summary.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { CHECKOUT_DIR } from '../checkout-dir.js';
import { tracked } from './live-children.js';

/**
 * The `redeem` this process runs as, when it is one (a chaos run or benchmark started through the suite's
 * compiled build starts compiled consumers too), else bin/redeem.mjs (from source, through tsx).
 */
export const DEFAULT_ENTRY = /[/\\]redeem\.m?js$/.test(process.argv[1] ?? '') ? process.argv[1]! : join(CHECKOUT_DIR, 'bin', 'redeem.mjs');

/** The entry consumers run when none is given: DEFAULT_ENTRY, unless a run points them at a build of its own. */
let entryInUse = DEFAULT_ENTRY;

/**
 * Starts every later consumer without an entry of its own from `entry` (the benchmark's build of the
 * checkout), until the returned function puts the default back.
 */
export function useConsumerEntry(entry: string): () => void {
  const before = entryInUse;
  entryInUse = entry;
  return () => {
    entryInUse = before;
  };
}

export interface ConsumerProcessOptions {
  /** Arguments after `consume`, e.g. `--exit-when-idle 5`. @defaultValue none */
  args?: readonly string[];
  /** Also append everything it logs to this file. @defaultValue none */
  logFile?: string;
  /** The `redeem` entry file node runs. @defaultValue the one `useConsumerEntry` set, else this process's own `redeem` entry, else bin/redeem.mjs */
  entry?: string;
}

export class ConsumerProcess {
  readonly child: ChildProcess;
  /** Everything it wrote to stderr so far: its JSON logs. */
  stderr = '';
  /** Everything it wrote to stdout so far: its summary, once it has stopped. */
  stdout = '';
  /** Its exit code once it has exited (null when killed by a signal). */
  readonly exited: Promise<number | null>;

  /** `env`: the whole environment of the child (the caller merges process.env in where it wants it). */
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    o: ConsumerProcessOptions = {},
  ) {
    this.child = tracked(spawn(process.execPath, [o.entry ?? entryInUse, 'consume', ...(o.args ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
    this.child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      if (o.logFile) appendFileSync(o.logFile, d);
    });
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  /** SIGTERM: it finishes and commits the flush in hand and leaves the group; resolves with its exit code. */
  stop(): Promise<number | null> {
    this.child.kill('SIGTERM');
    return this.exited;
  }

  /**
   * `stop`, bounded: a consumer still running `deadlineMs` after its SIGTERM is killed (SIGKILL) and this
   * fails with its last log lines, instead of waiting for ever on a flush or a group leave that hangs.
   */
  async stopWithin(deadlineMs: number): Promise<number | null> {
    const code = await Promise.race([this.stop(), sleep(deadlineMs, 'late' as const, { ref: false })]);
    if (code !== 'late') return code;
    this.child.kill('SIGKILL');
    throw new Error(`the consumer did not stop within ${deadlineMs / 1000} s of its SIGTERM; its last words: ${this.lastWords()}`);
  }

  /** The end of its log, for an error message. */
  lastWords(chars = 600): string {
    return this.stderr.slice(-chars) || '(none)';
  }

  kill9(): Promise<number | null> {
    this.child.kill('SIGKILL');
    return this.exited;
  }

  /** The rebalances it went through so far (also after a kill -9): see `rebalancesInLog`. */
  rebalances(): number {
    return rebalancesInLog(this.stderr);
  }

  /** The port of its /metrics, /healthz and /readyz, once it serves them. */
  metricsPort(): number | null {
    for (const entry of logEntries(this.stderr))
      if (entry.msg === 'serving /metrics, /healthz and /readyz' && typeof entry.port === 'number') return entry.port;
    return null;
  }

  /**
   * Its /metrics now, each series (the name with its labels, as printed) to its value: the counters it
   * keeps are read here rather than from its log, which its LOG_LEVEL may leave out. Its port is
   * METRICS_PORT when that is not 0, else the one it logged.
   */
  async metrics(): Promise<Map<string, number>> {
    const port = Number(this.env.METRICS_PORT ?? 0) || this.metricsPort();
    if (!port) throw new Error('the consumer serves no /metrics (yet): give it a METRICS_PORT of its own to read them at any log level');
    return parseMetrics(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  }
}

/** Prometheus text → series → value (comments skipped). */
export function parseMetrics(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    series.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return series;
}

/** The sum of every series of `metric` (all its label values), 0 when it has none. */
export function metricTotal(series: ReadonlyMap<string, number>, metric: string): number {
  let total = 0;
  for (const [name, value] of series) if (name === metric || name.startsWith(`${metric}{`)) total += value;
  return total;
}

/** The JSON log lines of a consumer's stderr (other lines, such as its summary, are skipped). */
export function logEntries(log: string): Record<string, unknown>[] {
  const entries: Record<string, unknown>[] = [];
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      entries.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut short by a kill -9
    }
  }
  return entries;
}

/**
 * The rebalances a consumer counted, from the `rebalances` field of its "joined the group" log lines
 * (the count after each join), the same figure as its summary and `redeem_rebalances_total`.
 */
export function rebalancesInLog(log: string): number {
  let rebalances = 0;
  for (const entry of logEntries(log))
    if (entry.msg === 'joined the group' && typeof entry.rebalances === 'number') rebalances = Math.max(rebalances, entry.rebalances);
  return rebalances;
}

/**
 * Removals of members whose process was still running, among the removals the dead-member sweep of any
 * of `consumers` logged (`removed a dead member`, naming the removed member's process, whose consumer
 * id holds its pid): a removal counts as of a dead member only if that process was killed (`killedAt`:
 * pid → ms since epoch) before it.
 */
export function liveMembersRemoved(consumers: readonly Pick<ConsumerProcess, 'stderr'>[], killedAt: ReadonlyMap<number, number>): number {
  let live = 0;
  for (const c of consumers)
    for (const e of logEntries(c.stderr)) {
      if (!String(e.msg).startsWith('removed a dead member')) continue;
      const pid = Number(/-(\d+)-[0-9a-f]+$/.exec(String(e.process))?.[1]);
      const killed = killedAt.get(pid);
      if (killed === undefined || killed > Number(e.time)) live += 1;
    }
  return live;
}
