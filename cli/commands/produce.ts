import { DEFAULT_SIMULATION, simulateCheckout, type SimulationOptions } from '../../producers/checkout-simulator.js';
import { RedemptionProducer } from '../../producers/redemption-producer.js';
import { findBadLines, readRequestFile } from '../../producers/request-file.js';
import { sendStream } from '../../producers/send-stream.js';
import { InputError } from '../../lib/errors.js';
import { ensurePipelineTopics } from '../../lib/topics.js';
import type { RedemptionRequested } from '../../schemas/types.js';
import type { Runtime } from '../runtime.js';

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

/**
 * Sends a JSON-lines file in file order. The file is checked first: if any line is bad, every bad line
 * is reported by number and nothing is sent.
 */
export async function produceFile(rt: Runtime, path: string, o: { rate: number | null; progress: boolean }): Promise<number> {
  const { bad, badCount, requests } = await findBadLines(path);
  if (badCount > 0) {
    const more = badCount > bad.length ? `\n... and ${badCount - bad.length} more` : '';
    throw new InputError('INPUT_INVALID', `${path}: ${badCount} bad line(s), nothing sent:\n${bad.join('\n')}${more}`);
  }
  const producer = await connectProducer(rt);
  try {
    async function* good(): AsyncGenerator<RedemptionRequested> {
      for await (const entry of readRequestFile(path)) if ('request' in entry) yield entry.request;
    }
    return await sendStream(producer, good(), { batchSize: 500, rate: o.rate, total: requests, label: 'produce', progress: o.progress });
  } finally {
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
