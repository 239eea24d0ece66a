import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { DEFAULT_SIMULATION, simulateCheckout, type SimulationOptions } from '../../producers/checkout-simulator.js';
import { RedemptionProducer } from '../../producers/redemption-producer.js';
import { findBadLines, readRequestFile } from '../../producers/request-file.js';
import { sendStream } from '../../producers/send-stream.js';
import { InputError } from '../../lib/errors.js';
import { ensurePipelineTopics } from '../../lib/topics.js';
import type { RedemptionRequested } from '../../schemas/types.js';
import type { Runtime } from '../../lib/runtime.js';

async function connectProducer(rt: Runtime): Promise<RedemptionProducer> {
  const admin = rt.kafka().admin();
  await admin.connect();
  try {
    await ensurePipelineTopics(admin, rt.config, rt.logger);
  } finally {
    await admin.disconnect();
  }
  const codec = await rt.registry().codecFor<RedemptionRequested>('requested', rt.config.redemptionTopic);
  return RedemptionProducer.connect(rt.kafka(), codec, rt.config.redemptionTopic);
}

/** Where `produce --file` records the last line the broker acknowledged, for `--resume`. */
export function checkpointPath(path: string): string {
  return `${path}.produced`;
}

/**
 * Sends a JSON-lines file in file order, one line at a time from disk (constant memory whatever its
 * size). The file is checked first: if any line is bad, every bad line is reported by number and nothing
 * is sent. After every acknowledged batch the last acknowledged line number is written to
 * `<file>.produced`; with `resume`, lines up to it are skipped.
 */
export async function produceFile(rt: Runtime, path: string, o: { rate: number | null; progress: boolean; resume: boolean }): Promise<number> {
  const { bad, badCount, requests } = await findBadLines(path);
  if (badCount > 0) {
    const more = badCount > bad.length ? `\n... and ${badCount - bad.length} more` : '';
    throw new InputError('INPUT_INVALID', `${path}: ${badCount} bad line(s), nothing sent:\n${bad.join('\n')}${more}`);
  }
  const checkpoint = checkpointPath(path);
  const after = o.resume && existsSync(checkpoint) ? Number(readFileSync(checkpoint, 'utf8').trim()) : 0;
  if (!Number.isSafeInteger(after) || after < 0) throw new InputError('INPUT_INVALID', `${checkpoint} does not hold a line number; remove it to start over`);
  if (after > 0) rt.logger.info({ after }, 'resuming after the last acknowledged line');
  const producer = await connectProducer(rt);
  // Line numbers of the requests sent but not yet acknowledged: at most one batch.
  const unacked: number[] = [];
  let acked = 0;
  let skipped = 0;
  try {
    async function* good(): AsyncGenerator<RedemptionRequested> {
      for await (const entry of readRequestFile(path)) {
        if (!('request' in entry)) continue;
        if (entry.line <= after) {
          skipped += 1;
          continue;
        }
        unacked.push(entry.line);
        yield entry.request;
      }
    }
    return await sendStream(producer, good(), {
      batchSize: 500,
      rate: o.rate,
      total: after > 0 ? null : requests,
      label: 'produce',
      progress: o.progress,
      onAcked: (sent) => {
        const line = unacked.splice(0, sent - acked).pop();
        acked = sent;
        if (line !== undefined) writeFileSync(checkpoint, `${line}\n`);
      },
    });
  } finally {
    if (skipped > 0) rt.logger.info({ skipped }, 'skipped lines acknowledged by an earlier run');
    await producer.disconnect();
  }
}

export async function produceSimulation(
  rt: Runtime,
  simulation: Partial<SimulationOptions> & Pick<SimulationOptions, 'count' | 'couponCodes'>,
  o: { rate: number | null; progress: boolean },
): Promise<number> {
  const producer = await connectProducer(rt);
  try {
    const requests = simulateCheckout({ ...DEFAULT_SIMULATION, ...simulation });
    return await sendStream(producer, requests, { batchSize: 1000, rate: o.rate, total: simulation.count, label: 'produce', progress: o.progress });
  } finally {
    await producer.disconnect();
  }
}
