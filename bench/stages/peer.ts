/**
 * A generic sink on the same topic: Kafka Connect standalone with the Debezium JDBC sink, upserting every
 * request into one MySQL table; rows counted to the expected distinct total. Skipped with `--no-peer`;
 * an error (no Java, no jars) is recorded, not fatal.
 */
import { readTopicFromStart } from '../../lib/kafka.js';
import { createDatabaseIfMissing } from '../../lib/mysql.js';
import type { Runtime } from '../../lib/runtime.js';
import type { RedemptionRequested } from '../../schemas/types.js';
import { ensureConnectJars, runConnectPeer } from '../connect-peer.js';
import type { PeerRun } from '../result.js';
import { type BenchContext, round } from './context.js';
import { requestsTopicData } from './data.js';

export async function peerStage(ctx: BenchContext): Promise<PeerRun | null> {
  const { o, base } = ctx;
  if (!o.peer) return null;
  await requestsTopicData(ctx);
  ctx.print('peer: Kafka Connect standalone + Debezium JDBC sink (upsert) on the same topic');
  const missing = ensureConnectJars((line) => ctx.print(line));
  if (missing) return { error: missing };
  const c = ctx.ns('peer');
  ctx.databases.push(c.mysqlUrl);
  await createDatabaseIfMissing(c.mysqlUrl);
  const expectedRows = await distinctRequests(ctx.rt, c.redemptionTopic, o.requests);
  try {
    const r = await runConnectPeer({
      brokers: base.kafkaBrokers,
      registryUrl: base.schemaRegistryUrl,
      topic: c.redemptionTopic,
      mysqlUrl: c.mysqlUrl,
      expectedRows,
      batchSize: base.flushMaxMessages,
      tasks: base.flushConcurrency,
      timeoutMs: 300_000,
    });
    ctx.print(`  ${r.perSecond} rows/s (${r.rows} rows in ${round(r.seconds)} s)`);
    return { ...r, expectedRows, correct: r.rows === expectedRows };
  } catch (error) {
    ctx.print(`  peer failed: ${(error as Error).message}`);
    return { error: (error as Error).message };
  }
}

/** Distinct (coupon, request id) pairs in the topic: the rows an upserting sink must end with. */
async function distinctRequests(rt: Runtime, topic: string, total: number): Promise<number> {
  const decoder = rt.registry().decoderFor<RedemptionRequested>('requested');
  const keys = new Set<string>();
  await readTopicFromStart(rt.kafka(), topic, total, async (batch) => {
    for (const m of batch.messages) {
      const r = await decoder.decode(m.value!);
      keys.add(`${r.coupon_code}\u0000${r.request_id}`);
    }
  });
  return keys.size;
}
