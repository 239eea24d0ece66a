/**
 * CPU time from /proc (Linux): of one process, and of the whole host, so that a stage can say which of
 * them was busy while it measured (on 2 shared cores, a figure without that says little); and from each
 * thread's schedstat, how long it waited for a core while it could have run.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's counters (USER_HZ, 100 on Linux). */
const TICKS = 100;

/** CPU seconds (user + system) process `pid` has used so far. */
export function processCpuSeconds(pid: number): number {
  // Fields after the command name, which may hold spaces: state is the 3rd field, utime the 14th, stime the 15th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** CPU seconds the host has been busy and in all (every core), so far. */
export function hostCpuSeconds(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  // idle and iowait are the 4th and 5th counters.
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  return { busy: (total - idle) / TICKS, total: total / TICKS };
}

/** A thread's time on a core and runnable but waiting for one, in seconds, from its schedstat line. */
export interface SchedTimes {
  ran: number;
  waited: number;
}

/**
 * `/proc/.../schedstat`: nanoseconds on a core, nanoseconds runnable in a run queue without one, and
 * timeslices. Null for a line of another shape.
 */
export function parseSchedstat(line: string): SchedTimes | null {
  const fields = line.trim().split(/\s+/);
  if (fields.length < 2 || !fields.slice(0, 2).every((f) => /^\d+$/.test(f))) return null;
  return { ran: Number(fields[0]) / 1e9, waited: Number(fields[1]) / 1e9 };
}

/**
 * Thread `tid` of process `pid` so far (the main thread's tid is its pid); null where the kernel keeps no
 * schedstat (built without it) or the thread is gone.
 */
export function threadSchedTimes(pid: number, tid = pid): SchedTimes | null {
  try {
    return parseSchedstat(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Each thread of process `pid` so far, by thread id; null where the kernel keeps no schedstat or the
 * process is gone. A thread that has ended is not listed (its times went with it).
 */
export function threadsSchedTimes(pid: number): Map<number, SchedTimes> | null {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  const threads = new Map<number, SchedTimes>();
  for (const tid of tids) {
    const t = threadSchedTimes(pid, Number(tid));
    if (t) threads.set(Number(tid), t);
  }
  return threads.size > 0 ? threads : null;
}
