/** What holds the slowest answers: measured from each request's parts and the consumer's own stage histograms. */
import { describe, expect, it } from 'vitest';

import { heldBy, slowestSegments } from '../../bench/slowest-requests.js';
import { intakeHeldBy } from '../../bench/stages/checkout.js';

const fast = { send: 2, pipeline: 10, answer: 3 };

describe('the slowest answers', () => {
  it('averages each part over the requests at or above p99 only', () => {
    const timed = [...Array.from({ length: 99 }, () => fast), { send: 4, pipeline: 300, answer: 6 }];
    expect(slowestSegments(timed)).toEqual({ requests: 1, send: 4, pipeline: 300, answer: 6 });
  });

  it('names the consumer stage with the largest p99 when the pipeline holds them', () => {
    const stages = { kafka: { mean: 3, p50: 2, p99: 40 }, mysql: { mean: 30, p50: 18, p99: 246 }, commit: { mean: 50, p50: 40, p99: 900 } };
    // The offset commit comes after the answer: never the holder.
    expect(heldBy({ send: 4, pipeline: 300, answer: 6 }, stages)).toMatch(/^the pipeline, its mysql stage \(p99 246 ms, mean 30 ms/);
  });

  it('names the send or the answer when either holds them', () => {
    expect(heldBy({ send: 200, pipeline: 50, answer: 6 }, {})).toMatch(/^the send \(the call to the request's CreateTime/);
    expect(heldBy({ send: 2, pipeline: 50, answer: 90 }, {})).toMatch(/^the answer \(/);
  });
});

describe('what holds the HTTP intake', () => {
  it('is the process whose CPU is saturated, else the host, else none', () => {
    expect(intakeHeldBy({ serve: 0.97, loadGenerator: 0.6, hostBusyCores: 1.9 })).toMatch(/^redeem serve's CPU/);
    expect(intakeHeldBy({ serve: 0.7, loadGenerator: 0.6, hostBusyCores: 1.9 })).toMatch(/^the host's 2 cores/);
    expect(intakeHeldBy({ serve: 0.3, loadGenerator: 0.2, hostBusyCores: 0.8 })).toMatch(/^no process used a whole core on average/);
  });
});
