import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';

import { fetchControl } from '../../consumers/fetch-control.js';

describe('pausing and resuming a partition while KafkaJS restarts its consumer', () => {
  it('skips a pause or resume that KafkaJS refuses for want of a consumer group, and says so, instead of throwing', () => {
    // A real KafkaJS consumer that has no consumer group, as between a crash and its restart (nothing connects).
    const consumer = new Kafka({ brokers: ['127.0.0.1:9'], logLevel: logLevel.NOTHING }).consumer({ groupId: 'fetch-control-test' });
    expect(() => consumer.resume([{ topic: 't', partitions: [0] }])).toThrow(/Consumer group was not initialized/);
    const skipped: string[] = [];
    const control = fetchControl(
      () => consumer,
      (what, error) => skipped.push(`${what}: ${error.message}`),
    );
    expect(() => control.resume('t', 0)).not.toThrow();
    expect(() => control.pause('t', 1)).not.toThrow();
    expect(skipped).toEqual([
      expect.stringMatching(/^resume: Consumer group was not initialized/),
      expect.stringMatching(/^pause: Consumer group was not initialized/),
    ]);
  });

  it('passes the partition on to a running consumer, and throws any other error', () => {
    const calls: unknown[] = [];
    const running = { pause: (tp: unknown) => void calls.push(['pause', tp]), resume: (tp: unknown) => void calls.push(['resume', tp]) };
    const control = fetchControl(
      () => running,
      () => {
        throw new Error('nothing should be skipped');
      },
    );
    control.pause('requests', 3);
    control.resume('requests', 3);
    expect(calls).toEqual([
      ['pause', [{ topic: 'requests', partitions: [3] }]],
      ['resume', [{ topic: 'requests', partitions: [3] }]],
    ]);
    const refusing = {
      pause: () => {
        throw new Error('Invalid topic requests');
      },
      resume: () => {},
    };
    expect(() =>
      fetchControl(
        () => refusing,
        () => {},
      ).pause('requests', 0),
    ).toThrow('Invalid topic requests');
  });
});
