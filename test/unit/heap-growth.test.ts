/**
 * The consumer's garbage-collection policy (lib/heap-growth.ts), seen where it matters: how far the heap
 * of a process that keeps a live set and churns flush-like garbage around it grows, with V8's policy and
 * with the growth limited. Each runs in a process of its own (the flag is process-wide).
 */
import { execFileSync } from 'node:child_process';

import { describe, expect, it } from 'vitest';

const CHURN = `
import { limitHeapGrowth } from './lib/heap-growth.ts';
limitHeapGrowth(Number(process.env.PERCENT));
const live = [];
for (let i = 0; i < 300000; i++) live.push({ code: 'c' + i, n: i, list: [i] });
const recent = [];
let peak = 0;
for (let flush = 0; flush < 1500; flush++) {
  const requests = [];
  for (let i = 0; i < 2000; i++) requests.push({ id: 'r' + flush + '-' + i, values: new Array(8).fill(i) });
  recent.push(requests);
  if (recent.length > 20) recent.shift();
  peak = Math.max(peak, process.memoryUsage().heapTotal);
}
console.log(Math.round(peak / 1048576), live.length);
`;

function peakHeapMiB(percent: number): number {
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHURN], {
    cwd: new URL('../..', import.meta.url),
    env: { ...process.env, PERCENT: String(percent) },
    encoding: 'utf8',
  });
  return Number(out.trim().split(' ')[0]);
}

describe('limitHeapGrowth', () => {
  it('keeps the heap closer to what is live than V8 lets it grow by itself', () => {
    const own = peakHeapMiB(0);
    const limited = peakHeapMiB(30);
    expect(limited).toBeGreaterThan(0);
    expect(limited).toBeLessThan(own * 0.8);
  }, 60_000);
});
