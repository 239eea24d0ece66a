/**
 * A `redeem consume` child process, as an operator runs it: the one wrapper the tests, the chaos run and
 * the benchmark start consumers with. Its figures come from its machine-readable log lines (pino JSON on
 * stderr), never from the human summary.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

import { CHECKOUT_DIR } from '../checkout-dir.js';

/**
 * The `redeem` this process runs as, when it is one (a chaos run or benchmark started through the suite's
 * compiled build starts compiled consumers too), else bin/redeem.mjs (from source, through tsx).
 */
const DEFAULT_ENTRY = /[/\\]redeem\.m?js$/.test(process.argv[1] ?? '') ? process.argv[1]! : join(CHECKOUT_DIR, 'bin', 'redeem.mjs');

export interface ConsumerProcessOptions {
  /** Arguments after `consume`, e.g. `--exit-when-idle 5`. @defaultValue none */
  args?: readonly string[];
  /** Also append everything it logs to this file. @defaultValue none */
  logFile?: string;
  /** The `redeem` entry file node runs. @defaultValue this process's own `redeem` entry, else bin/redeem.mjs */
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
  constructor(env: NodeJS.ProcessEnv, o: ConsumerProcessOptions = {}) {
    this.child = spawn(process.execPath, [o.entry ?? DEFAULT_ENTRY, 'consume', ...(o.args ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
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
