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

/**
 * End-to-end latency of every request: from the producer's send (the request's CreateTime) to the
 * publish of its audit record, which follows the MySQL commit of its effect (the audit record's
 * CreateTime). Both stamps come from this host's clock. The first record of each message counts.
 */
export async function endToEndLatency(
  kafka: Kafka,
  requestTopic: string,
  requests: number,
  auditTopic: string,
  audits: number,
  sourceOf: (value: Buffer) => Promise<{ partition: number; offset: number }>,
): Promise<LatencySummary> {
  const sent = new Map<string, number>();
  await readTopicFromStart(kafka, requestTopic, requests, (batch) => {
    for (const m of batch.messages) sent.set(`${batch.partition}/${m.offset}`, Number(m.timestamp));
  });
  const latencies: number[] = [];
  const seen = new Set<string>();
  await readTopicFromStart(kafka, auditTopic, audits, async (batch) => {
    for (const m of batch.messages) {
      const source = await sourceOf(m.value!);
      const key = `${source.partition}/${source.offset}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const at = sent.get(key);
      if (at !== undefined) latencies.push(Number(m.timestamp) - at);
    }
  });
  latencies.sort((a, b) => a - b);
  return {
    samples: latencies.length,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1] ?? NaN,
  };
}
