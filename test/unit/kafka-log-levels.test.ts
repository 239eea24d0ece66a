import { Writable } from 'node:stream';

import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

import { createKafka } from '../../lib/kafka.js';

/** A KafkaJS client whose log lines (pino, debug and up) are collected as parsed JSON. */
function loggedKafka() {
  const lines: { level: number; msg: string; namespace?: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as (typeof lines)[number]);
      done();
    },
  });
  const kafka = createKafka(['127.0.0.1:1'], 'log-test', pino({ level: 'debug' }, sink));
  return { connection: kafka.logger().namespace('Connection'), lines };
}

const WARN = 40;
const DEBUG = 20;

describe("KafkaJS's error responses in the project's log", () => {
  it('a ListOffsets answered "not the leader" or "no leader" (asked again by topicOffsets) is debug, not a warning', async () => {
    const { connection, lines } = loggedKafka();
    connection.error('Response ListOffsets(key: 2, version: 3)', { error: 'This server is not the leader for that topic-partition' });
    connection.error('Response ListOffsets(key: 2, version: 3)', {
      error: 'There is no leader for this topic-partition as we are in the middle of a leadership election',
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map((l) => l.level)).toEqual([DEBUG, DEBUG]);
  });

  it('every other error response stays a warning, a fetch answered "not the leader" included', async () => {
    const { connection, lines } = loggedKafka();
    connection.error('Response Fetch(key: 1, version: 11)', { error: 'This server is not the leader for that topic-partition' });
    connection.error('Response ListOffsets(key: 2, version: 3)', { error: 'Not authorized to access topics: [Topic authorization failed]' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map((l) => [l.level, l.namespace])).toEqual([
      [WARN, 'Connection'],
      [WARN, 'Connection'],
    ]);
  });
});
