/**
 * What every service of the local stack shares: where its files go, how a process is started in the
 * background and recognised later (a pid file and a marker on its command line, so that `down` stops only
 * what `up` started), how one waits for a service to answer, and how a started process is stopped.
 * Each service (kafka.ts, kafka-secure.ts, registry.ts, machine-services.ts, the cluster nodes) is a
 * module of its own built on these.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { RedemptionError } from '../../lib/errors.js';
import { tcpAnswers } from '../../lib/net.js';
import { CHECKOUT_DIR, STACK_ASSETS_DIR } from '../checkout-dir.js';

/** scripts/stack/ of the checkout, also when the tools run compiled: the stack's templates, POMs and pinned digests. */
export const SCRIPT_DIR = STACK_ASSETS_DIR;
/** Where the stack's downloads, data, logs and pid files go (git-ignored); `STACK_DIR` moves it. */
export const STACK_DIR = process.env.STACK_DIR ?? join(CHECKOUT_DIR, '.stack');

export type Print = (line: string) => void;

/** The single-node stack's fixed addresses. */
export const ADDRESSES = {
  kafka: { host: '127.0.0.1', port: 9092 },
  registry: { host: '127.0.0.1', port: 8081 },
  redis: { host: '127.0.0.1', port: 6379 },
  mysql: { host: '127.0.0.1', port: 3306 },
} as const;

/** A JVM service the stack downloads, prepares, starts in the background and stops. */
export interface ManagedService {
  name: 'kafka' | 'registry' | 'kafka-secure';
  dir: string;
  address: { host: string; port: number };
  install(print: Print): void;
  /** The java arguments; they carry `-Dredemption.stack=<name>`, the marker `runningPid` looks for. */
  command(): { args: string[] };
  ready(): Promise<boolean>;
  prepare?(print: Print): void;
}

/**
 * The pid in `pidFile` if that process still runs and its command line passes `matches` (a pid file
 * outlives its process, and the pid may have been reused by another program).
 */
export function startedPid(pidFile: string, matches: (args: string[]) => boolean): number | null {
  if (!existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  try {
    return matches(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')) ? pid : null;
  } catch {
    return null;
  }
}

/** The java marker of a stack process: `-Dredemption.stack=<name>`. */
export const stackMarker = (name: string): string => `-Dredemption.stack=${name}`;

/** Starts `command` detached, its output appended to `logFile`, its pid written to `pidFile`. */
export function startDetached(command: string, args: readonly string[], o: { cwd: string; logFile: string; pidFile: string }): number {
  const log = openSync(o.logFile, 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', log, log], cwd: o.cwd });
  closeSync(log);
  child.unref();
  writeFileSync(o.pidFile, String(child.pid));
  return child.pid!;
}

/** The last lines of a log file, for an error message. */
export function logTail(file: string, lines = 15): string {
  return existsSync(file) ? `\nlast lines of ${file}:\n${readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n')}` : '';
}

/**
 * Waits until `probe` says yes (`what`: what is awaited, e.g. "kafka to answer on 127.0.0.1:9092"); fails
 * after `timeoutMs`, or at once when `alive` says the process has exited, with the end of its log.
 */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean> | boolean,
  timeoutMs: number,
  o: { logFile?: string; alive?: () => boolean; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  while (Date.now() < deadline) {
    if (await probe()) return;
    if (o.alive && !o.alive()) {
      exited = true;
      break;
    }
    await sleep(o.intervalMs ?? 500);
  }
  const tail = o.logFile ? logTail(o.logFile) : '';
  throw new RedemptionError('STACK_FAILED', `${what}: ${exited ? 'the process exited first' : `not within ${timeoutMs / 1000} s`}${tail}`);
}

/** Sends `signal` to a started process and waits up to `graceMs` for it to end, then SIGKILL. */
export async function stopProcess(pid: number, running: () => boolean, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  process.kill(pid, signal);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && running()) await sleep(200);
  if (running()) process.kill(pid, 'SIGKILL');
}

function pidFile(service: ManagedService): string {
  return join(service.dir, `${service.name}.pid`);
}

/** The pid of a process this stack started for `service` and that still runs. */
export function runningPid(service: ManagedService): number | null {
  // The exact argument: "-Dredemption.stack=kafka" is a prefix of the secured broker's marker.
  return startedPid(pidFile(service), (args) => args.includes(stackMarker(service.name)));
}

export async function startManaged(service: ManagedService, print: Print): Promise<void> {
  const { address } = service;
  if (await service.ready()) {
    print(`${service.name}: already up on ${address.host}:${address.port}`);
    return;
  }
  if (runningPid(service) === null && (await tcpAnswers(address.host, address.port))) {
    throw new RedemptionError('STACK_FAILED', `${service.name}: port ${address.port} is taken by a process that does not answer as ${service.name}`);
  }
  mkdirSync(service.dir, { recursive: true });
  service.install(print);
  const logFile = join(service.dir, `${service.name}.log`);
  if (runningPid(service) === null) {
    service.prepare?.(print);
    const pid = startDetached('java', service.command().args, { cwd: service.dir, logFile, pidFile: pidFile(service) });
    print(`${service.name}: started (pid ${pid}, log ${logFile})`);
  }
  await waitFor(`${service.name} to answer on ${address.host}:${address.port}`, service.ready, 120_000, { logFile, alive: () => runningPid(service) !== null });
  print(`${service.name}: up on ${address.host}:${address.port}`);
}

export async function stopManaged(service: ManagedService, print: Print): Promise<void> {
  const pid = runningPid(service);
  if (pid === null) {
    print(`${service.name}: not started by this script; left alone`);
    rmSync(pidFile(service), { force: true });
    return;
  }
  await stopProcess(pid, () => runningPid(service) !== null, 30_000);
  rmSync(pidFile(service), { force: true });
  print(`${service.name}: stopped (pid ${pid})`);
}
