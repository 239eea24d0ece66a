import { describe, expect, it } from 'vitest';

import { formatHostCpu, hostCpuBetween, markHostCpu } from '../../bench/host-cpu.js';

describe("the bench's account of the host's cores", () => {
  it('gives each process its CPU seconds per second of the window, and leaves out a process missing from either mark', () => {
    const from = { at: 0, cpu: { consumer: 10, broker: 4, mysql: 2 }, host: 100 };
    const to = { at: 20_000, cpu: { consumer: 20, broker: 8, redis: 1 }, host: 130 };
    const shares = hostCpuBetween(from, to);
    expect(shares).toEqual({ seconds: 20, cores: { consumer: 0.5, broker: 0.2 }, hostBusyCores: 1.5 });
    expect(formatHostCpu(shares, 2)).toBe('cores used: consumer 0.5, Kafka broker 0.2; host 1.5 of 2 busy');
  });

  it('reads the consumer and this process from /proc', () => {
    const mark = markHostCpu(process.pid);
    expect(mark.cpu.consumer).toBeGreaterThan(0);
    expect(mark.cpu.bench).toBeGreaterThan(0);
    expect(mark.host).toBeGreaterThan(0);
  });
});
