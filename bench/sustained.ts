import type { Admin } from 'kafkajs';

import { groupProgress } from '../lib/kafka.js';

/** One second of a sustained run: what was offered, what the group decided (committed), and the lag. */
export interface SustainedSample {
  second: number;
  offered: number;
  decided: number;
  lag: number;
}

/**
 * Samples a consumer group once a second while `produced()` grows: offered per second (from the
 * producer's count), decided per second (from the group's committed offsets, which move only after the
 * MySQL commit and the audit publish) and the lag (topic end minus committed). Stops when `stop()` says so.
 */
export async function sampleEverySecond(admin: Admin, groupId: string, topic: string, produced: () => number, stop: () => boolean): Promise<SustainedSample[]> {
  const samples: SustainedSample[] = [];
  const started = performance.now();
  let lastProduced = 0;
  let lastCommitted = 0;
  for (let second = 1; !stop(); second++) {
    const wait = started + second * 1000 - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const nowProduced = produced();
    const { committed, lag } = await groupProgress(admin, groupId, topic);
    const nowCommitted = [...committed.values()].reduce((a, b) => a + b, 0);
    samples.push({ second, offered: nowProduced - lastProduced, decided: nowCommitted - lastCommitted, lag });
    lastProduced = nowProduced;
    lastCommitted = nowCommitted;
  }
  return samples;
}

/**
 * Over the seconds of production (the drain after it is left out, it would halve the rates): the mean
 * offered and decided rates; the largest lag; the lag when production stopped; and the seconds the drain
 * took after it.
 */
export function summariseSustained(
  samples: readonly SustainedSample[],
  productionSeconds: number,
): { offeredPerSecond: number; decidedPerSecond: number; maxLag: number; lagAtEndOfProduction: number } {
  const during = samples.filter((s) => s.second <= productionSeconds);
  const n = Math.max(1, during.length);
  return {
    offeredPerSecond: Math.round(during.reduce((s, x) => s + x.offered, 0) / n),
    decidedPerSecond: Math.round(during.reduce((s, x) => s + x.decided, 0) / n),
    maxLag: Math.max(0, ...samples.map((s) => s.lag)),
    lagAtEndOfProduction: during[during.length - 1]?.lag ?? 0,
  };
}
