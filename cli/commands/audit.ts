import { randomBytes } from 'node:crypto';
import type { RedemptionDecided } from '../../schemas/types.js';
import type { Runtime } from '../runtime.js';

export interface TailOptions {
  coupon?: string;
  fromBeginning: boolean;
  exitWhenIdle?: number;
  write(line: string): void;
}

/** The JSON line printed for an audit record: times as ISO-8601. */
export function auditJson(record: RedemptionDecided): string {
  return JSON.stringify({ ...record, decided_at: record.decided_at.toISOString() });
}

/**
 * Prints the audit stream as JSON lines. It reads under a throwaway consumer group of its own and
 * commits nothing, so it never disturbs the pipeline or anyone else's group.
 */
export async function tailAudit(rt: Runtime, o: TailOptions): Promise<number> {
  const decoder = rt.registry().decoderFor<RedemptionDecided>('decided');
  const consumer = rt.kafka('redeem-audit-tail').consumer({ groupId: `redeem-audit-tail-${randomBytes(4).toString('hex')}`, maxWaitTimeInMs: 200 });
  let printed = 0;
  let lastActivity = Date.now();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: rt.config.auditTopic, fromBeginning: o.fromBeginning });
    const stop = new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
      if (o.exitWhenIdle !== undefined) {
        const timer = setInterval(() => {
          if (Date.now() - lastActivity >= o.exitWhenIdle! * 1000) {
            clearInterval(timer);
            resolve();
          }
        }, 200);
      }
    });
    consumer.on(consumer.events.GROUP_JOIN, () => (lastActivity = Date.now()));
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          if (o.coupon !== undefined && message.key?.toString() !== o.coupon) continue;
          if (message.value === null) continue;
          const record = await decoder.decode(message.value);
          o.write(auditJson(record));
          printed += 1;
        }
        lastActivity = Date.now();
      },
    });
    await stop;
  } finally {
    await consumer.disconnect();
  }
  return printed;
}
