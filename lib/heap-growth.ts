import { setFlagsFromString } from 'node:v8';

/**
 * Sets how far V8 lets the old space grow past what the last major collection left live before it
 * collects again: a factor of (1 + percent/100), in place of V8's own, which rises up to 4 and let a
 * consumer's promoted flush garbage pile up to about 100 MiB above its live heap (docs/performance.md).
 * Not a cap: the heap still grows as far as the live data needs. V8 reads the flag at each collection,
 * so setting it once the process runs takes effect from the next one. 0 leaves V8's policy.
 */
export function limitHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}
