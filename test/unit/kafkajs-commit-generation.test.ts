import { createRequire } from 'node:module';

import { describe, expect, it } from 'vitest';

/**
 * KafkaJS's runner retries a refused offset commit, as patches/kafkajs+2.2.4.patch leaves it: within the
 * group generation the commit began in only. Unpatched, a commit refused because the group was
 * rebalancing was sent again once the join was over, under the new generation, which the coordinator
 * accepts whoever owns the partition now: a member moved a partition it had just lost back behind what
 * its new owner had committed (a 2-process drain left 21,360 messages of one partition uncommitted).
 */
const require = createRequire(import.meta.url);
type Offsets = { topics: { topic: string; partitions: { partition: number; offset: string }[] }[] };
interface Runner {
  running: boolean;
  commitOffsets(offsets: Offsets): Promise<void>;
}
const Runner = require('kafkajs/src/consumer/runner.js') as new (o: object) => Runner;
const { createLogger, LEVELS } = require('kafkajs/src/loggers/index.js') as { createLogger: (o: object) => unknown; LEVELS: { NOTHING: number } };
const { KafkaJSProtocolError } = require('kafkajs/src/errors.js') as { KafkaJSProtocolError: new (e: object) => Error };

/** A group whose coordinator refuses the first commit for a rebalance, which a join then ends. */
function rebalancingGroup() {
  const sent: { generationId: number; offsets: Offsets }[] = [];
  const group = {
    generationId: 7,
    getNodeIds: () => [],
    async commitOffsets(offsets: Offsets) {
      sent.push({ generationId: group.generationId, offsets });
      if (sent.length === 1) {
        // The member rejoins while the refusal comes back: the next attempt would be under generation 8.
        group.generationId = 8;
        throw new KafkaJSProtocolError({ type: 'REBALANCE_IN_PROGRESS', code: 27, retriable: true, message: 'rebalancing' });
      }
    },
  };
  return { group, sent };
}

function runner(group: object): Runner {
  const r = new Runner({
    logger: createLogger({ level: LEVELS.NOTHING, logCreator: () => () => undefined }),
    consumerGroup: group,
    instrumentationEmitter: null,
    concurrency: 1,
    eachBatch: async () => {},
    onCrash: () => {},
    retry: { initialRetryTime: 1, retries: 3 },
    autoCommit: false,
  });
  r.running = true;
  return r;
}

const offsets: Offsets = { topics: [{ topic: 't', partitions: [{ partition: 4, offset: '2000' }] }] };

describe("KafkaJS's offset commit retries", () => {
  it('do not carry a commit into the generation after a rebalance', async () => {
    const { group, sent } = rebalancingGroup();
    await expect(runner(group).commitOffsets(offsets)).rejects.toThrow(/rebalanced \(generation 7 to 8\)/);
    expect(sent.map((s) => s.generationId)).toEqual([7]);
  });

  it('still retry within the generation', async () => {
    const { group, sent } = rebalancingGroup();
    // The refusal without a join: the generation stands and the retry goes.
    const refuseOnce = group.commitOffsets.bind(group);
    group.commitOffsets = async (o: Offsets) => {
      const generation = group.generationId;
      await refuseOnce(o).catch((error: unknown) => {
        group.generationId = generation;
        throw error;
      });
    };
    await runner(group).commitOffsets(offsets);
    expect(sent.map((s) => s.generationId)).toEqual([7, 7]);
  });
});
