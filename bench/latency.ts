import type { Kafka } from 'kafkajs';
import { randomBytes } from 'node:crypto';

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

async function timestamps(kafka: Kafka, topic: string, total: number, onMessage: (partition: number, offset: number, timestamp: number, value: Buffer | null) => Promise<void> | void): Promise<void> {
  if (total === 0) return;
  const consumer = kafka.consumer({ groupId: `bench-ts-${randomBytes(3).toString('hex')}`, maxBytes: 8 << 20, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) await onMessage(batch.partition, Number(m.offset), Number(m.timestamp), m.value);
      seen += batch.messages.length;
      if (seen >= total) finish();
    },
  });
  await done;
  await consumer.disconnect();
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
  await timestamps(kafka, requestTopic, requests, (partition, offset, ts) => {
    sent.set(`${partition}/${offset}`, ts);
  });
  const latencies: number[] = [];
  const seen = new Set<string>();
  await timestamps(kafka, auditTopic, audits, async (_p, _o, ts, value) => {
    const source = await sourceOf(value!);
    const key = `${source.partition}/${source.offset}`;
    if (seen.has(key)) return;
    seen.add(key);
    const at = sent.get(key);
    if (at !== undefined) latencies.push(ts - at);
  });
  latencies.sort((a, b) => a - b);
  return { samples: latencies.length, p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] ?? NaN };
}
