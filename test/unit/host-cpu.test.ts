import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterEach, describe, expect, it } from 'vitest';

import { parseSchedstat, type SchedTimes, threadSchedTimes, threadsSchedTimes } from '../../bench/cpu.js';
import { formatCoreWaits, formatHostCpu, hostCpuBetween, markHostCpu } from '../../bench/host-cpu.js';

/** A process's threads, added up. */
function processSchedTimes(pid: number): SchedTimes {
  const sum = { ran: 0, waited: 0 };
  for (const t of threadsSchedTimes(pid)!.values()) {
    sum.ran += t.ran;
    sum.waited += t.waited;
  }
  return sum;
}

describe("the bench's account of the host's cores", () => {
  it('gives each process its CPU seconds per second of the window, and leaves out a process missing from either mark', () => {
    const from = { at: 0, cpu: { consumer: 10, broker: 4, mysql: 2 }, host: 100, waited: {}, consumerMain: null };
    const to = { at: 20_000, cpu: { consumer: 20, broker: 8, redis: 1 }, host: 130, waited: {}, consumerMain: null };
    const shares = hostCpuBetween(from, to);
    expect(shares).toEqual({ seconds: 20, cores: { consumer: 0.5, broker: 0.2 }, hostBusyCores: 1.5 });
    expect(formatHostCpu(shares, 2)).toBe('cores used: consumer 0.5, Kafka broker 0.2; host 1.5 of 2 busy');
    // A kernel without schedstat: nothing said about waits.
    expect(formatCoreWaits(shares)).toBeNull();
  });

  it("gives each process's run-queue wait and the consumer's main thread's shares of the window", () => {
    const from = {
      at: 0,
      cpu: { consumer: 10 },
      host: 100,
      waited: { consumer: { '7/7': 2, '7/8': 1 }, mysql: { '3/3': 0.5, '3/9': 0.5, '3/10': 4 }, redis: { '2/2': 2 } },
      consumerMain: { ran: 8, waited: 2 },
    };
    // MySQL's thread 10 ended within the window (its 4 s are not taken off), thread 11 started in it.
    const to = {
      at: 10_000,
      cpu: { consumer: 16 },
      host: 115,
      waited: { consumer: { '7/7': 3, '7/8': 1.2 }, mysql: { '3/3': 0.7, '3/9': 0.6, '3/11': 0.2 } },
      consumerMain: { ran: 14, waited: 3 },
    };
    const shares = hostCpuBetween(from, to);
    expect(shares.waitingCores).toEqual({ consumer: 0.12, mysql: 0.05 });
    expect(shares.consumerMainThread).toEqual({ ran: 0.6, waited: 0.1 });
    expect(formatCoreWaits(shares)).toBe(
      "waited for a core: the consumer's main thread 10% of the time (it ran 60%); seconds per second, all threads: consumer 0.12, MySQL 0.05",
    );
  });

  it('reads schedstat as time on a core, then time waiting for one, in nanoseconds', () => {
    expect(parseSchedstat('539452 1997008 2\n')).toEqual({ ran: 0.000539452, waited: 0.001997008 });
    expect(parseSchedstat('')).toBeNull();
    expect(parseSchedstat('a b c')).toBeNull();
  });

  it('reads the consumer and this process from /proc', () => {
    const mark = markHostCpu(process.pid);
    expect(mark.cpu.consumer).toBeGreaterThan(0);
    expect(mark.cpu.bench).toBeGreaterThan(0);
    expect(mark.host).toBeGreaterThan(0);
    expect(mark.consumerMain?.ran).toBeGreaterThan(0);
    expect(processSchedTimes(process.pid).ran).toBeGreaterThanOrEqual(mark.consumerMain!.ran);
  });

  describe('run-queue waits of real processes', () => {
    const children: ReturnType<typeof spawn>[] = [];
    afterEach(() => {
      for (const child of children.splice(0)) child.kill('SIGKILL');
    });
    const start = (script: string, core?: number) => {
      const args = ['-e', script];
      const child = core === undefined ? spawn(process.execPath, args) : spawn('taskset', ['-c', String(core), process.execPath, ...args]);
      children.push(child);
      return child;
    };

    it('finds two busy processes on one core waiting for it half the time, and a sleeping one not waiting', async () => {
      const busy = [start('for (;;) {}', 0), start('for (;;) {}', 0)];
      const sleeping = start('setInterval(() => {}, 1000)');
      // Past the processes' start; then one second. taskset execs node in place: the pid is node's.
      await sleep(500);
      const read = () => ({ busy: busy.map((c) => processSchedTimes(c.pid!)), sleeping: threadSchedTimes(sleeping.pid!)!, at: performance.now() });
      const before = read();
      await sleep(1000);
      const after = read();
      const seconds = (after.at - before.at) / 1000;
      before.busy.forEach((b, i) => {
        const waited = after.busy[i]!.waited - b.waited;
        const ran = after.busy[i]!.ran - b.ran;
        // One core for two: each runs about half the window and waits the other half.
        expect(waited / seconds).toBeGreaterThan(0.25);
        expect(ran / seconds).toBeGreaterThan(0.1);
        expect(ran + waited).toBeGreaterThan(0.8 * seconds);
      });
      expect(after.sleeping.waited - before.sleeping.waited).toBeLessThan(0.05);
      expect(after.sleeping.ran - before.sleeping.ran).toBeLessThan(0.05);
    });
  });
});
