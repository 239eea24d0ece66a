/**
 * The data most stages read: `requests` checkout requests produced ahead of time onto the run's shared
 * requests topic (the drains, the naive baseline, the raw stages, recovery and the peer read it).
 */
import { ProgressBar } from '../../lib/progress.js';
import { RedemptionProducer } from '../../producers/redemption-producer.js';
import type { RedemptionRequested } from '../../schemas/types.js';
import type { BenchContext } from './context.js';

/** Produces the data once per run, whichever stage needs it first. */
export function requestsTopicData(ctx: BenchContext): Promise<void> {
  return ctx.once('data', () => produceData(ctx));
}

async function produceData(ctx: BenchContext): Promise<void> {
  const { o, rt } = ctx;
  const c = ctx.ns('c1');
  ctx.print(`bench ${ctx.id}: producing ${o.requests} requests over ${o.coupons} coupons (seed ${o.seed})`);
  await ctx.prepare(c);
  const producer = await RedemptionProducer.connect(
    rt.kafka(),
    await rt.registry().codecFor<RedemptionRequested>('requested', c.redemptionTopic),
    c.redemptionTopic,
  );
  const bar = new ProgressBar('produce', o.requests);
  let sent = 0;
  let batch: RedemptionRequested[] = [];
  for (const r of ctx.simulation(o.requests, o.seed)) {
    batch.push(r);
    if (batch.length === 2000) {
      await producer.sendAll(batch);
      sent += batch.length;
      batch = [];
      bar.update(sent);
    }
  }
  await producer.sendAll(batch);
  bar.finish(o.requests);
  await producer.disconnect();
}
