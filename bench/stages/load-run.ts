/**
 * One consumer running while requests are produced at a fixed rate; the latency and sustained stages'
 * measurement. Latency is read afterwards from the two topics (a request's CreateTime to its audit
 * record's); with `sample`, the group's progress is also sampled every second.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import type { Admin } from 'kafkajs';

import type { Config } from '../../lib/config.js';
import { groupProgress } from '../../lib/kafka.js';
import { RateLimiter } from '../../lib/progress.js';
import type { Runtime } from '../../lib/runtime.js';
import { RedemptionProducer } from '../../producers/redemption-producer.js';
import type { RedemptionDecided, RedemptionRequested } from '../../schemas/types.js';
import { ConsumerProcess } from '../../scripts/harness/consumer-process.js';
import { endToEndLatency, type LatencySummary } from '../latency.js';
import { sampleEverySecond, type SustainedSample } from '../sustained.js';

export interface LoadRunResult {
  summary: { achievedPerSecond: number; keptUp: boolean; drainAfterSeconds: number } & LatencySummary;
  samples: SustainedSample[];
}

export async function committedTotal(admin: Admin, groupId: string, topic: string): Promise<number> {
  const { committed } = await groupProgress(admin, groupId, topic);
  return [...committed.values()].reduce((sum, offset) => sum + offset, 0);
}

export async function loadRun(
  rt: Runtime,
  c: Config,
  env: Record<string, string>,
  load: { offered: number; seconds: number; requests: Iterable<RedemptionRequested>; sample: boolean },
): Promise<LoadRunResult> {
  const consumer = new ConsumerProcess({ ...process.env, ...env }, { args: ['--exit-when-idle', '3'] });
  const admin = rt.kafka().admin();
  await admin.connect();
  try {
    await untilStable(admin, c.consumerGroup);
    const total = load.offered * load.seconds;
    let sent = 0;
    let drained = false;
    const sampler = load.sample
      ? sampleEverySecond(
          admin,
          c.consumerGroup,
          c.redemptionTopic,
          () => sent,
          () => drained,
        )
      : Promise.resolve([]);
    const started = Date.now();
    await produceAtRate(rt, c.redemptionTopic, load.offered, load.requests, (n) => (sent = n));
    const producedFor = (Date.now() - started) / 1000;
    const endedAt = Date.now();
    while ((await committedTotal(admin, c.consumerGroup, c.redemptionTopic)) < total) await sleep(50);
    const drainAfterSeconds = (Date.now() - endedAt) / 1000;
    drained = true;
    const samples = await sampler;
    await consumer.exited;
    const latency = await latencyOf(rt, c, total);
    // Kept up: the backlog left when production stopped was worked off within a second.
    return { summary: { achievedPerSecond: Math.round(total / producedFor), keptUp: drainAfterSeconds <= 1, drainAfterSeconds, ...latency }, samples };
  } finally {
    await admin.disconnect();
    consumer.child.kill('SIGKILL');
  }
}

async function untilStable(admin: Admin, groupId: string): Promise<void> {
  for (;;) {
    const { groups } = await admin.describeGroups([groupId]);
    if (groups[0]!.state === 'Stable') return;
    await sleep(100);
  }
}

/** Sends `requests` at `offered`/s in small batches (a hundredth of a second's worth), reporting the count sent. */
async function produceAtRate(
  rt: Runtime,
  topic: string,
  offered: number,
  requests: Iterable<RedemptionRequested>,
  onSent: (sent: number) => void,
): Promise<void> {
  const producer = await RedemptionProducer.connect(rt.kafka(), await rt.registry().codecFor<RedemptionRequested>('requested', topic), topic);
  const limiter = new RateLimiter(offered);
  const perSend = Math.max(1, Math.round(offered / 100));
  let sent = 0;
  let batch: RedemptionRequested[] = [];
  for (const r of requests) {
    batch.push(r);
    if (batch.length >= perSend) {
      await producer.sendAll(batch);
      sent += batch.length;
      onSent(sent);
      batch = [];
      await limiter.wait(sent);
    }
  }
  await producer.sendAll(batch);
  onSent(sent + batch.length);
  await producer.disconnect();
}

async function latencyOf(rt: Runtime, c: Config, total: number): Promise<LatencySummary> {
  const decoder = rt.registry().decoderFor<RedemptionDecided>('decided');
  return endToEndLatency(rt.kafka(), c.redemptionTopic, total, c.auditTopic, total, async (value) => {
    const r = await decoder.decode(value);
    return { partition: r.source_partition, offset: r.source_offset };
  });
}
