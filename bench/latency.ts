import type { Kafka } from 'kafkajs';

import { readTopicFromStart } from '../lib/kafka.js';

/** p-th percentile (0-100) of sorted values, nearest rank. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export interface LatencySummary {
  samples: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** p50/p95/p99/max of some latencies (any order; not changed). */
export function summarise(latencies: readonly number[]): LatencySummary {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    samples: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
  };
}

/** A request's two stamps: its CreateTime on the requests topic and its (first) audit record's. */
export interface CreateTimes {
  sent: number;
  decided: number;
}

/**
 * The CreateTimes of every decided request, keyed `partition/offset` of the request: from the
 * producer's send (the request's CreateTime) to the publish of its audit record, which follows the
 * MySQL commit of its effect (the audit record's CreateTime). Both stamps come from this host's clock.
 * The first record of each message counts.
 */
export async function createTimes(
  kafka: Kafka,
  requestTopic: string,
  requests: number,
  auditTopic: string,
  audits: number,
  sourceOf: (value: Buffer) => Promise<{ partition: number; offset: number }>,
): Promise<Map<string, CreateTimes>> {
  const sent = new Map<string, number>();
  await readTopicFromStart(kafka, requestTopic, requests, (batch) => {
    for (const m of batch.messages) sent.set(`${batch.partition}/${m.offset}`, Number(m.timestamp));
  });
  const times = new Map<string, CreateTimes>();
  await readTopicFromStart(kafka, auditTopic, audits, async (batch) => {
    for (const m of batch.messages) {
      const source = await sourceOf(m.value!);
      const key = `${source.partition}/${source.offset}`;
      const at = sent.get(key);
      if (at !== undefined && !times.has(key)) times.set(key, { sent: at, decided: Number(m.timestamp) });
    }
  });
  return times;
}
