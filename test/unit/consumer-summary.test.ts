import { describe, expect, it } from 'vitest';

import { formatStageTails, parseConsumerSummary } from '../../bench/consumer-summary.js';
import { formatStats } from '../../cli/commands/consume.js';
import { ConsumerStats } from '../../consumers/consumer-stats.js';

describe('the bench reading a consumer summary', () => {
  it('finds the figures and the latency by stage that formatStats prints', () => {
    const stats = new ConsumerStats();
    const now = Date.now();
    stats.recordFlush(3, 0.004, [now - 12, now - 12, now - 12], now);
    stats.recordMysqlStatements(7);
    for (let i = 0; i < 4; i++) stats.recordFetch();
    stats.stages.observe('mysql', 0.003, 3);
    stats.stages.observe('kafka', 0.0015, 3);
    const summary = parseConsumerSummary(formatStats(stats));
    expect(summary.mysqlStatements).toBe(7);
    expect(summary.flushes).toBe(1);
    expect(summary.fetches).toBe(4);
    expect(summary.cpuSeconds).toBeGreaterThan(0);
    expect(summary.endToEnd!.mean).toBe(12);
    expect(summary.stages.mysql!.mean).toBe(3);
    expect(summary.stages.kafka!.mean).toBe(1.5);
    expect(summary.stages.commit).toEqual({ mean: 0, p50: 0, p99: 0 });
  });

  it("prints each stage's mean and p99, in the stages' order, skipping the ones not measured", () => {
    expect(formatStageTails({ mysql: { mean: 10.2, p50: 8, p99: 95.5 }, kafka: { mean: 3.1, p50: 2, p99: 40 } })).toBe('kafka 3.1/40, mysql 10.2/95.5');
  });
});
