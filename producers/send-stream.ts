/**
 * The send loop of `redeem produce`: requests in order, a batch per acknowledged produce call, paced, with
 * a progress bar.
 */
import { ProgressBar, RateLimiter } from '../lib/progress.js';
import type { RedemptionRequested } from '../schemas/types.js';
import type { RedemptionProducer } from './redemption-producer.js';

export interface SendOptions {
  /** Requests per produce call. */
  batchSize: number;
  /** Requests per second; null sends as fast as the broker acknowledges. */
  rate: number | null;
  total: number | null;
  /** Of `total`, how many an earlier run sent (a resumed file): the progress bar counts them as done. */
  already?: number;
  label: string;
  progress: boolean;
  /** Called after each acknowledged produce call with the total acknowledged so far. */
  onAcked?(sent: number): void;
}

/**
 * Sends requests in order, a batch per acknowledged produce call, paced and with a progress bar.
 * Returns how many were sent.
 */
export async function sendStream(
  producer: RedemptionProducer,
  requests: AsyncIterable<RedemptionRequested> | Iterable<RedemptionRequested>,
  o: SendOptions,
): Promise<number> {
  const bar = new ProgressBar(o.label, o.total, o.progress, o.already ?? 0);
  const limiter = new RateLimiter(o.rate);
  // With a rate, small batches keep the pacing smooth; without one, big batches keep the broker busy.
  const batchSize = o.rate ? Math.max(1, Math.min(o.batchSize, Math.ceil(o.rate / 50))) : o.batchSize;
  let batch: RedemptionRequested[] = [];
  let sent = 0;
  const flush = async () => {
    await producer.sendAll(batch);
    sent += batch.length;
    batch = [];
    o.onAcked?.(sent);
    bar.update(sent);
  };
  for await (const request of requests) {
    batch.push(request);
    if (batch.length >= batchSize) {
      await flush();
      await limiter.wait(sent);
    }
  }
  if (batch.length > 0) await flush();
  bar.finish(sent);
  return sent;
}
