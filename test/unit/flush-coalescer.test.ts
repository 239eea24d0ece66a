import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';

import type { BatchProcessor, PartitionChunk } from '../../consumers/batch-processor.js';
import { FlushCoalescer } from '../../consumers/flush-coalescer.js';

const messages = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ offset: String(from + i) }) as KafkaMessage);
const chunk = (partition: number, from: number, n: number): PartitionChunk => ({ topic: 't', partition, messages: messages(from, n) });

/** A processor that records the groups it is given and finishes each when told to. */
function recordingProcessor() {
  const groups: string[][] = [];
  const release: (() => void)[] = [];
  const processor = {
    process: (parts: readonly PartitionChunk[]) => {
      groups.push(parts.map((p) => `${p.partition}@${p.messages[0]!.offset}+${p.messages.length}`));
      return new Promise<void>((resolve) => release.push(resolve));
    },
  } as unknown as BatchProcessor;
  return { processor, groups, release };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('flush coalescer', () => {
  it('merges the chunks submitted together into one flush', async () => {
    const { processor, groups, release } = recordingProcessor();
    const c = new FlushCoalescer({ processor, consumer: () => undefined as never, maxMessages: 100, concurrency: 1, commitOffsets: false });
    const done = [c.submit(chunk(0, 0, 10)), c.submit(chunk(1, 0, 10)), c.submit(chunk(2, 0, 10))];
    await tick();
    expect(groups).toEqual([['0@0+10', '1@0+10', '2@0+10']]);
    release.forEach((r) => r());
    await Promise.all(done);
  });

  it('never puts two chunks of one partition in flight at once, and keeps their order', async () => {
    const { processor, groups, release } = recordingProcessor();
    const c = new FlushCoalescer({ processor, consumer: () => undefined as never, maxMessages: 100, concurrency: 3, commitOffsets: false });
    const done = [c.submit(chunk(0, 0, 5)), c.submit(chunk(0, 5, 5)), c.submit(chunk(1, 0, 5))];
    await tick();
    expect(groups).toEqual([['0@0+5', '1@0+5']]);
    release.shift()!();
    await done[0];
    await tick();
    expect(groups[1]).toEqual(['0@5+5']);
    release.shift()!();
    await Promise.all(done);
  });

  it('caps a flush at maxMessages and runs up to `concurrency` flushes on disjoint partitions', async () => {
    const { processor, groups, release } = recordingProcessor();
    const c = new FlushCoalescer({ processor, consumer: () => undefined as never, maxMessages: 20, concurrency: 2, commitOffsets: false });
    const done = [0, 1, 2, 3, 4].map((p) => c.submit(chunk(p, 0, 10)));
    await tick();
    expect(groups).toEqual([
      ['0@0+10', '1@0+10'],
      ['2@0+10', '3@0+10'],
    ]);
    release.shift()!();
    await done[0];
    await tick();
    expect(groups[2]).toEqual(['4@0+10']);
    release.forEach((r) => r());
    await Promise.all(done);
  });

  it('fails every chunk of a failed flush, so their handlers retry them', async () => {
    const processor = { process: () => Promise.reject(new Error('MySQL gone')) } as unknown as BatchProcessor;
    const c = new FlushCoalescer({ processor, consumer: () => undefined as never, maxMessages: 100, concurrency: 1, commitOffsets: false });
    const results = await Promise.allSettled([c.submit(chunk(0, 0, 1)), c.submit(chunk(1, 0, 1))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
