import { describe, expect, it } from 'vitest';

import { configTableMarkdown, loadConfig, SETTINGS } from '../../lib/config.js';
import { ConfigError } from '../../lib/errors.js';

describe('configuration', () => {
  it('has defaults that fit the local stack', () => {
    const config = loadConfig({});
    expect(config.kafkaBrokers).toEqual(['127.0.0.1:9092']);
    expect(config.schemaRegistryUrl).toBe('http://127.0.0.1:8081/apis/ccompat/v7');
    expect(config.mysqlUrl).toBe('mysql://root@127.0.0.1:3306/redemptions');
    expect(config.flushMaxMessages).toBe(2000);
  });

  it('names every bad setting and why, all at once', () => {
    let error: unknown;
    try {
      loadConfig({ KAFKA_BROKERS: 'localhost', TOPIC_PARTITIONS: '0', MYSQL_URL: 'postgres://x/y', LOG_LEVEL: 'loud' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems.map((p) => p.setting).sort()).toEqual(['KAFKA_BROKERS', 'LOG_LEVEL', 'MYSQL_URL', 'TOPIC_PARTITIONS']);
    expect((error as Error).message).toMatch(/KAFKA_BROKERS: "localhost" is not host:port/);
    expect((error as Error).message).toMatch(/TOPIC_PARTITIONS: must be between 1 and 1000, got 0/);
  });

  it('checks settings against each other', () => {
    expect(() => loadConfig({ SESSION_TIMEOUT_MS: '9000', HEARTBEAT_INTERVAL_MS: '5000' })).toThrow(/HEARTBEAT_INTERVAL_MS: must be at most a third/);
    expect(() => loadConfig({ AUDIT_TOPIC: 'same', REDEMPTION_TOPIC: 'same' })).toThrow(/AUDIT_TOPIC: must differ/);
  });

  it('wants the request timeout above the rebalance timeout, naming the setting', () => {
    expect(() => loadConfig({ REBALANCE_TIMEOUT_MS: '30000', REQUEST_TIMEOUT_MS: '30000' })).toThrow(
      /REQUEST_TIMEOUT_MS: must be greater than REBALANCE_TIMEOUT_MS \(30000\)/,
    );
    expect(() => loadConfig({ REBALANCE_TIMEOUT_MS: '60000' })).toThrow(/REQUEST_TIMEOUT_MS/);
    expect(loadConfig({ REBALANCE_TIMEOUT_MS: '60000', REQUEST_TIMEOUT_MS: '70000' }).requestTimeoutMs).toBe(70000);
  });

  it('notices a dead member in seconds by default', () => {
    const config = loadConfig({});
    expect(config.sessionTimeoutMs).toBeLessThanOrEqual(10_000);
    expect(config.requestTimeoutMs).toBeGreaterThan(config.rebalanceTimeoutMs);
  });

  it('refuses a database name that is not a plain identifier', () => {
    expect(() => loadConfig({ MYSQL_URL: 'mysql://root@127.0.0.1:3306/' })).toThrow(/MYSQL_URL: must name a database/);
  });

  it('documents every setting in the configuration table', () => {
    const table = configTableMarkdown();
    for (const spec of Object.values(SETTINGS)) expect(table).toContain(`\`${spec.env}\``);
  });
});

describe('fault injection settings', () => {
  it('are off by default and parse named points with probabilities', () => {
    expect(loadConfig({}).faults).toEqual({});
    expect(loadConfig({ REDEEM_FAULTS: 'crash-after-db-commit:0.02, crash-after-audit:1' }).faults).toEqual({
      'crash-after-db-commit': 0.02,
      'crash-after-audit': 1,
    });
  });

  it('refuse unknown points and bad probabilities, naming the setting', () => {
    expect(() => loadConfig({ REDEEM_FAULTS: 'crash-sometimes:0.1' })).toThrow(/REDEEM_FAULTS: unknown fault point "crash-sometimes"/);
    expect(() => loadConfig({ REDEEM_FAULTS: 'crash-after-redis:2' })).toThrow(/REDEEM_FAULTS: "crash-after-redis:2" needs a probability between 0 and 1/);
  });
});
