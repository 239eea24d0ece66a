/**
 * The minimal flush cycle: one message, one round trip per step, one after another (Redis lookup, MySQL
 * upsert committed, Redis update, audit produce, offset commit), median of 40. Latencies are read as
 * multiples of it.
 */
import { ensureTopics } from '../../lib/kafka.js';
import { type FlushCycle, minimalFlushCycle } from '../cycle.js';
import { type BenchContext, standalone } from './context.js';
import { rawDatabase } from './raw.js';

/** Measured once per run, whichever stage needs it first. */
export function cycleStage(ctx: BenchContext): Promise<FlushCycle> {
  return ctx.once('cycle', () => measureCycle(ctx));
}

async function measureCycle(ctx: BenchContext): Promise<FlushCycle> {
  const { rt } = ctx;
  ctx.print('minimal flush cycle');
  const topic = `bench-${ctx.id}-cycle.requested`;
  const admin = rt.kafka().admin();
  await admin.connect();
  try {
    await ensureTopics(
      admin,
      [
        { topic, partitions: 1 },
        { topic: `${topic}.audit`, partitions: 1 },
      ],
      rt.logger,
    );
  } finally {
    await admin.disconnect();
  }
  const cycle = await minimalFlushCycle({
    kafka: rt.kafka(),
    redis: standalone(await rt.connectedRedis()),
    mysqlUrl: (await rawDatabase(ctx)).mysqlUrl,
    topic,
    auditTopic: `${topic}.audit`,
    samples: 40,
  });
  const steps = Object.entries(cycle.steps)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  ctx.print(`  median ${cycle.medianMs} ms (${steps})`);
  return cycle;
}
