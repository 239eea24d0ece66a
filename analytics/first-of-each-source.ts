import type { RedemptionDecided } from '../schemas/types.js';

/**
 * A test that passes each source record once: the first audit record of a (source_partition,
 * source_offset) of the requests topic. A redelivery or a replay re-emits the records of messages
 * already decided; those repeats are not new decisions. `audit stats`, `audit tail` and the sink
 * (seeded with what it landed before) count by it.
 */
export function firstOfEachSource(): (record: Pick<RedemptionDecided, 'source_partition' | 'source_offset'>) => boolean {
  const seen = new Map<number, Set<number>>();
  return (record) => {
    let offsets = seen.get(record.source_partition);
    if (!offsets) seen.set(record.source_partition, (offsets = new Set()));
    const offset = Number(record.source_offset);
    if (offsets.has(offset)) return false;
    offsets.add(offset);
    return true;
  };
}
