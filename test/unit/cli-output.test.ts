import { createServer } from 'node:net';

import { describe, expect, it } from 'vitest';

import { formatDryRunChanges } from '../../cli/commands/consume.js';
import { ExpectedFailure, explainFailure, oneLine, requireServices } from '../../cli/failures.js';
import { humanDefault } from '../../cli/program.js';
import { ConsumerStats } from '../../consumers/consumer-stats.js';
import { loadConfig } from '../../lib/config.js';
import { RedemptionError } from '../../lib/errors.js';
import { formatLogLine } from '../../lib/log-format.js';

const config = loadConfig({});

/** A port nothing listens on (the kernel's pick, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('failures are one line naming the cause and the fix', () => {
  it('a busy port: the message that names the setting', () => {
    const busy = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:9464'), { code: 'EADDRINUSE', port: 9464 });
    const named = new Error('METRICS_PORT: port 9464 is already in use (set another, or 0 for any free port)', { cause: busy });
    expect(explainFailure(new RedemptionError('CONSUMER_FAILED', 'the consumer could not start', { cause: named }))).toBe(named.message);
  });

  it('a refused connection names the service by its port, and its setting', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED', port: 6379, address: '127.0.0.1' });
    expect(explainFailure(new Error('flush failed', { cause: refused }), config)).toBe(
      'Redis does not answer at 127.0.0.1:6379 (connect ECONNREFUSED 127.0.0.1:6379); start it (npm run redeem -- stack up for the local one) or point REDIS_URL at one that runs',
    );
    const kafka = Object.assign(new Error('Connection error: connect ECONNREFUSED'), { name: 'KafkaJSConnectionError' });
    const gaveUp = Object.assign(new Error('Connection error', { cause: kafka }), { name: 'KafkaJSNonRetriableError' });
    expect(explainFailure(gaveUp, config)).toMatch(/^Kafka does not answer at 127\.0\.0\.1:9092 \(Connection error: connect ECONNREFUSED\); .* KAFKA_BROKERS/);
  });

  it('a database that is not there, and services that said so themselves', () => {
    const missing = Object.assign(new Error("Unknown database 'nope'"), { code: 'ER_BAD_DB_ERROR' });
    expect(explainFailure(missing)).toMatch(/^the database in MYSQL_URL is missing or not migrated .*; run `npm run redeem -- migrate`$/);
    const denied = new RedemptionError('STORAGE_UNAVAILABLE', 'MySQL at 127.0.0.1:3306 answers but refuses the user and password of MYSQL_URL: denied');
    expect(explainFailure(denied)).toMatch(/: denied; check the user and password in MYSQL_URL$/);
    const down = new RedemptionError('STORAGE_UNAVAILABLE', 'MySQL at 127.0.0.1:3306 does not answer: connect ECONNREFUSED', { retriable: true });
    expect(explainFailure(down)).toMatch(/does not answer: connect ECONNREFUSED; check that it runs .* and MYSQL_URL$/);
  });

  it('an unexpected error is not explained away, and its causes fit on one line', () => {
    expect(explainFailure(new TypeError('x is undefined'), config)).toBeNull();
    expect(oneLine(new Error('could not flush', { cause: new Error('bad\nthing') }))).toBe('could not flush: bad thing');
  });

  it('a service that does not take connections fails the command at once, naming it', async () => {
    const port = await closedPort();
    const started = Date.now();
    const error = await requireServices({ ...config, kafkaBrokers: [`127.0.0.1:${port}`] }, ['kafka', 'mysql']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExpectedFailure);
    expect((error as Error).message).toBe(
      `Kafka does not answer at 127.0.0.1:${port}; start it (npm run redeem -- stack up for the local one) or point KAFKA_BROKERS at one that runs`,
    );
    expect(Date.now() - started).toBeLessThan(2500);
  });
});

describe('logs for a person on a terminal', () => {
  it('time, level, message and the fields that matter', () => {
    const line = JSON.stringify({ level: 40, time: Date.parse('2026-12-05T02:03:04Z'), pid: 1, msg: 'topic exists', topic: 'a b', partitions: 3 });
    expect(formatLogLine(line)).toBe('02:03:04 WARN  topic exists  topic="a b" partitions=3\n');
    expect(formatLogLine(JSON.stringify({ level: 50, time: 0, msg: 'failed', err: { message: 'boom', stack: 'Error: boom\n at x' } }))).toBe(
      '00:00:00 ERROR failed  error="boom"\n',
    );
    expect(formatLogLine('not json')).toBe('not json');
  });
});

describe('replay --dry-run says what the replay would change', () => {
  it('nothing, when every request is decided already', () => {
    const stats = new ConsumerStats();
    stats.recordAlreadyDecided(244_849);
    expect(formatDryRunChanges(stats)).toBe('the replay would change nothing: 244849 already decided and 0 duplicate(s) stay as they are');
  });

  it('the requests not decided yet, and what each kind does', () => {
    const stats = new ConsumerStats();
    const record = (decision: 'APPLIED' | 'DUPLICATE' | 'REJECTED', reason: 'EXHAUSTED' | null = null) => ({ decision, reason }) as never;
    stats.recordDecisions([record('APPLIED'), record('APPLIED'), record('DUPLICATE'), record('REJECTED', 'EXHAUSTED')]);
    stats.recordAlreadyDecided(10);
    expect(formatDryRunChanges(stats)).toBe(
      [
        'the replay would decide 3 request(s) not decided yet:',
        '  2 applied: redemptions and refunds that change coupon counts and redemption rows',
        '  1 rejected (EXHAUSTED 1): recorded as decisions, no other effect',
        '  10 already decided and 1 duplicate(s) stay as they are',
      ].join('\n'),
    );
  });
});

describe('help shows defaults as a person writes them', () => {
  it('lists, settings and times, not JSON', () => {
    expect(humanDefault([0.25, 0.5])).toBe('0.25,0.5');
    expect(humanDefault([])).toBe('none');
    expect(humanDefault({ FETCH_MAX_WAIT_MS: '10' })).toBe('FETCH_MAX_WAIT_MS=10');
    expect(humanDefault(new Date('2026-01-01T00:00:00Z'))).toBe('2026-01-01T00:00:00Z');
    expect(humanDefault(42)).toBeUndefined();
    expect(humanDefault('DEMO')).toBeUndefined();
  });
});
