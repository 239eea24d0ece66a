/**
 * Who used the host's cores during a measured window: the consumer, the bench process itself (the load
 * generator), the local services (the Kafka broker, the MySQL server, Redis, the registry) and the host
 * in all. On 2 shared cores a latency tail is mostly a core not free; this says whose it was.
 *
 * The services are found in /proc by name (a service on another host has no process here and is left
 * out): `mariadbd`/`mysqld`, `redis-server`, and the stack's JVMs by their `-Dredemption.stack=` mark.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

import { hostCpuSeconds, processCpuSeconds, type SchedTimes, threadsSchedTimes } from './cpu.js';

export type HostProcess = 'consumer' | 'bench' | 'broker' | 'mysql' | 'redis' | 'registry';

/** Cores used per second of the window, by process, and by the whole host (of `cores`). */
export interface HostCpuShares {
  seconds: number;
  cores: Partial<Record<HostProcess, number>>;
  hostBusyCores: number;
  /**
   * Seconds per second of the window that each process's threads, added up, were runnable and waited
   * for a core (their schedstat; absent where the kernel keeps none, and in older results). Threads
   * that ended within the window are not counted.
   */
  waitingCores?: Partial<Record<HostProcess, number>>;
  /**
   * The consumer's main thread, which runs every request's JavaScript: the share of the window it ran
   * on a core and the share it waited for one. A request's path through the event loop waits as long.
   */
  consumerMainThread?: { ran: number; waited: number };
}

export interface HostCpuMark {
  at: number;
  cpu: Partial<Record<HostProcess, number>>;
  host: number;
  /**
   * Run-queue waits so far (seconds) of each thread, `<pid>/<tid>`, by process, where the kernel keeps
   * them: per thread, because a thread that ends takes its times with it, and a process's sum would
   * drop by them (a MariaDB connection closed within a window made its waits negative).
   */
  waited: Partial<Record<HostProcess, Record<string, number>>>;
  consumerMain: SchedTimes | null;
}

function serviceOf(pid: string): HostProcess | null {
  try {
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    if (comm === 'mariadbd' || comm === 'mysqld') return 'mysql';
    if (comm === 'redis-server') return 'redis';
    if (comm !== 'java') return null;
    const stack = /-Dredemption\.stack=([\w-]+)/.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))?.[1];
    return stack === 'kafka' ? 'broker' : stack === 'registry' ? 'registry' : null;
  } catch {
    // Gone between the listing and the read.
    return null;
  }
}

/** CPU seconds so far of the consumer, this process and each local service, and of the host. */
export function markHostCpu(consumerPid: number): HostCpuMark {
  const cpu: Partial<Record<HostProcess, number>> = {};
  const waited: Partial<Record<HostProcess, Record<string, number>>> = {};
  /** Adds the process's CPU and its threads' waits; returns its threads' times (null: no schedstat). */
  const add = (p: HostProcess, pid: number, seconds: number) => {
    cpu[p] = (cpu[p] ?? 0) + seconds;
    const threads = threadsSchedTimes(pid);
    if (!threads) return null;
    const of = (waited[p] ??= {});
    for (const [tid, t] of threads) of[`${pid}/${tid}`] = t.waited;
    return threads;
  };
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const service = serviceOf(pid);
    if (!service) continue;
    try {
      add(service, Number(pid), processCpuSeconds(Number(pid)));
    } catch {
      // Gone meanwhile: its share is left out.
    }
  }
  // The main thread's tid is the process's pid.
  const consumerMain = add('consumer', consumerPid, processCpuSeconds(consumerPid))?.get(consumerPid) ?? null;
  const self = process.cpuUsage();
  add('bench', process.pid, (self.user + self.system) / 1e6);
  return { at: Date.now(), cpu, host: hostCpuSeconds().busy, waited, consumerMain };
}

/** What each process used between two marks, in cores (CPU seconds per second). */
export function hostCpuBetween(from: HostCpuMark, to: HostCpuMark): HostCpuShares {
  const seconds = (to.at - from.at) / 1000;
  const per = (a: number) => Math.round((a / seconds) * 100) / 100;
  const cores: Partial<Record<HostProcess, number>> = {};
  for (const [p, end] of Object.entries(to.cpu) as [HostProcess, number][]) {
    const start = from.cpu[p];
    if (start !== undefined) cores[p] = per(end - start);
  }
  const waitingCores: Partial<Record<HostProcess, number>> = {};
  for (const [p, end] of Object.entries(to.waited) as [HostProcess, Record<string, number>][]) {
    const start = from.waited[p];
    if (start === undefined) continue;
    // The threads at the window's end: their wait since its start, or since their own start within it.
    // A thread that ended within the window is left out.
    let sum = 0;
    for (const [thread, waited] of Object.entries(end)) sum += waited - (start[thread] ?? 0);
    waitingCores[p] = per(sum);
  }
  const main =
    from.consumerMain && to.consumerMain
      ? { ran: per(to.consumerMain.ran - from.consumerMain.ran), waited: per(to.consumerMain.waited - from.consumerMain.waited) }
      : null;
  return {
    seconds: Math.round(seconds * 10) / 10,
    cores,
    hostBusyCores: per(to.host - from.host),
    ...(Object.keys(waitingCores).length > 0 ? { waitingCores } : {}),
    ...(main ? { consumerMainThread: main } : {}),
  };
}

const LABEL: Record<HostProcess, string> = {
  consumer: 'consumer',
  broker: 'Kafka broker',
  mysql: 'MySQL',
  redis: 'Redis',
  bench: 'the bench (load generator)',
  registry: 'registry',
};

/** "cores used: consumer 0.55, Kafka broker 0.31, ...; host 1.62 of 2 busy" (`cores`: the measuring host's, for a file read elsewhere) */
export function formatHostCpu(s: HostCpuShares, cores = cpus().length): string {
  const parts = (Object.keys(LABEL) as HostProcess[]).filter((p) => s.cores[p] !== undefined).map((p) => `${LABEL[p]} ${s.cores[p]}`);
  return `cores used: ${parts.join(', ')}; host ${s.hostBusyCores} of ${cores} busy`;
}

/** A load run's account of the host, as the stages print it: the cores used, then (where known) who waited for one. */
export function formatHostCpuLines(s: HostCpuShares, cores?: number): string[] {
  const waits = formatCoreWaits(s);
  return [formatHostCpu(s, cores), ...(waits ? [waits] : [])];
}

/**
 * "waited for a core: the consumer's main thread 9% of the time (it ran 61%); seconds per second,
 * all threads: consumer 0.12, MySQL 0.05, ..." or null where the kernel keeps no run-queue times.
 */
export function formatCoreWaits(s: HostCpuShares): string | null {
  const waiting = s.waitingCores;
  if (!waiting && !s.consumerMainThread) return null;
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const main = s.consumerMainThread
    ? `the consumer's main thread ${pct(s.consumerMainThread.waited)} of the time (it ran ${pct(s.consumerMainThread.ran)})`
    : null;
  const parts = waiting ? (Object.keys(LABEL) as HostProcess[]).filter((p) => waiting[p] !== undefined).map((p) => `${LABEL[p]} ${waiting[p]}`) : [];
  return `waited for a core: ${[main, parts.length > 0 ? `seconds per second, all threads: ${parts.join(', ')}` : null].filter(Boolean).join('; ')}`;
}
