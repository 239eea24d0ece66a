import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';

import { OWN_FAULT_KINDS, runChaos } from '../../scripts/chaos-run.js';
import { runCli } from './helpers.js';

/**
 * The process of the machine's MariaDB, the one on 3306. Not every `mariadbd`: other files start MariaDBs
 * of their own (outages-services.test.ts), which come and go while this one runs.
 */
function machineMariadbPid(): string {
  const listening = execFileSync('ss', ['-Hltnp', 'sport = :3306']).toString();
  const pid = /pid=(\d+)/.exec(listening)?.[1];
  if (pid === undefined) throw new Error(`nothing listens on 127.0.0.1:3306 (ss: ${listening.trim() || 'no socket'})`);
  return pid;
}

describe('the chaos run, short form', () => {
  // Regression: after a broker restart KafkaJS raised KafkaJSNoBrokerAvailableError, which it treats as
  // not retriable, and stopped the consumer for good inside a live process; the group never drained.
  // The consumer now restarts on any failure (the broker restart itself is a fault of the shared
  // broker: struck only when --faults names restart-kafka).
  it('strikes every kind that touches only what it owns, on its own Redis and MariaDB; verify equal, produced = decided + dead-lettered', async () => {
    // The machine's Redis and MariaDB, which other checkouts use, must come through untouched.
    const machineRedis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
    await machineRedis.connect();
    const sentinel = `chaos-test-sentinel-${randomBytes(4).toString('hex')}`;
    await machineRedis.set(sentinel, 'kept', 'EX', 600);
    const mariadbPid = machineMariadbPid();
    const lines: string[] = [];
    try {
      const s = await runChaos({ durationMs: 50_000, intervalMs: 4000, rate: 800, consumers: 2, seed: 7, cleanup: true, print: (l) => lines.push(l) });
      const report = lines.join('\n');
      expect(Object.keys(s.faults).sort(), report).toEqual([...OWN_FAULT_KINDS].sort());
      for (const kind of OWN_FAULT_KINDS) expect(s.faults[kind], `${kind}\n${report}`).toBeGreaterThan(0);
      expect(s.verify.differences, report).toEqual([]);
      expect(s.verify.equal).toBe(true);
      expect(s.produced).toBeGreaterThan(0);
      expect(s.produced, report).toBe(s.decided + s.deadLettered);
      // The dead-member sweep removed no member whose process was running (consumers/member-liveness.ts).
      expect(s.liveMembersRemoved, report).toBe(0);
      // The time to recover from each fault struck, none beyond the probe's limit.
      expect(s.recoveries).toHaveLength(Object.values(s.faults).reduce((a, b) => a + (b ?? 0), 0));
      expect(s.recoveries.filter((r) => r.ms === null)).toEqual([]);
      expect(await machineRedis.get(sentinel)).toBe('kept');
      expect(machineMariadbPid()).toBe(mariadbPid);
      expect(execFileSync('ps', ['-o', 'stat=', '-p', mariadbPid]).toString().trim()).not.toMatch(/^T/);
    } finally {
      await machineRedis.del(sentinel);
      machineRedis.disconnect();
    }
  }, 420_000);

  it('refuses a --faults list with a kind it does not know here, before it starts anything', async () => {
    const result = await runCli(['chaos', '--faults', 'kill-9-consumer,kill-9-broker'], { LOG_LEVEL: 'warn', KAFKA_BROKERS: '127.0.0.1:9092' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('--faults: unknown here: kill-9-broker');
  });
});
