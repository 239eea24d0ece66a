import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { remainingLag } from '../../consumers/drain.js';
import { groupProgress, partitionLags } from '../../lib/kafka.js';
import { IsolatedPipeline } from './helpers.js';

/**
 * Messages retention removed (the log's start moved past them) are no group's lag: no member can read
 * them, and nobody commits where there is nothing to read. Counted from offset 0, a partition whose every
 * message was removed lagged for ever: `redeem drain` never ended, and the stall watch (which reads the
 * same progress) held /readyz at 503. Retention is played here by DeleteRecords, which moves the log's
 * start as retention does.
 */
describe('what retention removed is not lag', () => {
  const p = new IsolatedPipeline();
  beforeAll(() => p.setUp());
  afterAll(() => p.cleanup());

  it('counts from the log start where a group committed nothing or less, as `redeem status` does', async () => {
    const topic = p.config.redemptionTopic;
    const send = async (n: number) => {
      const producer = p.rt.kafka().producer();
      await producer.connect();
      try {
        await producer.send({
          topic,
          messages: Array.from({ length: n }, (_, i) => ({ partition: 0, key: `k${i}`, value: Buffer.from('removed by retention') })),
        });
      } finally {
        await producer.disconnect();
      }
    };
    const fresh = p.config.consumerGroup;
    const behind = `${fresh}-behind`;
    await send(10);
    await p.withAdmin(async (admin) => {
      // A group that read 4 of them before retention removed all 10.
      await admin.setOffsets({ groupId: behind, topic, partitions: [{ partition: 0, offset: '4' }] });
      await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '10' }] });
      for (const group of [fresh, behind]) {
        const progress = await groupProgress(admin, group, topic);
        expect(progress.lag, group).toBe(0);
        expect(progress.committed.get(0), group).toBe(10);
        expect(await remainingLag(admin, group, topic), group).toEqual([]);
      }
    });
    // What arrives after the log's start is lag again, counted the same way by both readers.
    await send(3);
    await p.withAdmin(async (admin) => {
      for (const group of [fresh, behind]) {
        const progress = await groupProgress(admin, group, topic);
        expect(progress.lag, group).toBe(3);
        expect(
          (await partitionLags(admin, group, topic, 5000)).reduce((n, l) => n + l.lag, 0),
          group,
        ).toBe(3);
        expect(await remainingLag(admin, group, topic), group).toEqual([{ partition: 0, committed: 10, target: 13 }]);
      }
      await admin.deleteGroups([behind]);
    });
  });
});
