import { describe, expect, it } from 'vitest';

import { FAULT_KINDS } from '../../scripts/chaos-run.js';
import { runCli } from './helpers.js';

describe('the chaos run, short form', () => {
  // Regression: after a broker restart KafkaJS raised KafkaJSNoBrokerAvailableError, which it treats as
  // not retriable, and stopped the consumer for good inside a live process; the group never drained.
  // The consumer now restarts on any failure, and this run restarts the broker among the other faults.
  it('strikes every kind of fault and still ends with verify equal and produced = decided + dead-lettered', async () => {
    const result = await runCli(['chaos', '--duration', '50s', '--interval', '4s', '--rate', '800', '--cleanup'], { LOG_LEVEL: 'warn' }, 400_000);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    for (const kind of FAULT_KINDS) expect(result.stdout).toMatch(new RegExp(`faults: ${kind}\\s+[1-9]`));
    expect(result.stdout).toMatch(/produced = decided \+ dead-lettered\s+yes/);
    expect(result.stdout).toMatch(/verify\s+EQUAL/);
    // The dead-member sweep removed no member whose process was running (consumers/member-liveness.ts).
    expect(result.stdout).toMatch(/live members removed\s+0\b/);
    // The time to recover from each fault, as it happens and per kind in the summary.
    expect(result.stdout).toMatch(/recovered from kill-9-consumer in \d+\.\d s/);
    for (const kind of FAULT_KINDS) expect(result.stdout).toMatch(new RegExp(`recovery: ${kind}\\s+(max )?\\d+\\.\\d s`));
  }, 420_000);
});
