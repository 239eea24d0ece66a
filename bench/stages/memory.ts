/**
 * Memory: the 1-process drain again with the V8 old space capped (`--heap-cap-mib`), for its peak RSS
 * and its throughput beside the unbounded drain's.
 */
import type { ConsumerRun } from '../result.js';
import type { BenchContext } from './context.js';
import { drainOnce } from './drain.js';

export async function memoryStage(ctx: BenchContext): Promise<ConsumerRun | null> {
  if (ctx.o.heapCapMiB <= 0) return null;
  return drainOnce(ctx, 'cap', 1, `--max-old-space-size=${ctx.o.heapCapMiB}`);
}
