/**
 * An analyst's consumer of the audit stream: net redemptions per campaign, printed every minute.
 *
 *   npx --no-install tsx examples/campaign-redemptions.ts            # follow the stream, a line per minute
 *   npx --no-install tsx examples/campaign-redemptions.ts --once     # read what is there, print totals, exit
 *
 * Following, it reads under its own consumer group (ANALYST_GROUP, default analyst-campaign-redemptions),
 * so it never disturbs the pipeline and resumes where it stopped. With --once it reads the whole topic
 * from the beginning up to the end offsets it had at start, under a throwaway group that commits nothing
 * (and is deleted), prints the totals so far and exits: every run, not only the first. The campaign is
 * the record's campaign_id (version 2), else the coupon's from the coupons table (version-1 records).
 * The audit stream is delivered at least once: a record repeated after a crash, a redelivery or a replay
 * has the same (source_partition, source_offset), so it is counted once.
 */
import { randomBytes } from 'node:crypto';

import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Kafka, logLevel } from 'kafkajs';

import { loadConfig } from '../lib/config.js';
import { kafkaSecurity, mysqlTls, registryConnection } from '../lib/connections.js';
import { createKnex, useMysqlTls } from '../lib/mysql.js';

const env = (name: string, fallback: string) => process.env[name] ?? fallback;
const once = process.argv.includes('--once');
// The pipeline's own settings (KAFKA_BROKERS, SCHEMA_REGISTRY_URL, MYSQL_URL, AUDIT_TOPIC and the
// TLS/SASL/basic-auth ones), validated the same way, so the example also works against a secured cluster.
const config = loadConfig();
const topic = config.auditTopic;

const kafka = new Kafka({ brokers: config.kafkaBrokers, clientId: 'analyst-example', logLevel: logLevel.WARN, ...kafkaSecurity(config) });
const { auth, agent } = registryConnection(config);
const registry = new SchemaRegistry({ host: config.schemaRegistryUrl, ...(auth ? { auth } : {}), ...(agent ? { agent } : {}) });
useMysqlTls(mysqlTls(config));
const db = createKnex(config.mysqlUrl, { min: 0, max: 2 });

interface Decided {
  coupon_code: string;
  op: 'REDEEM' | 'REVERSE';
  decision: string;
  source_partition: number;
  source_offset: number;
  campaign_id?: string | null;
}

const campaignOf = new Map<string, string>();
async function campaign(code: string): Promise<string> {
  if (!campaignOf.has(code)) {
    const row = (await db('coupons').where({ code }).first('campaign_id')) as { campaign_id: string } | undefined;
    campaignOf.set(code, row?.campaign_id ?? '(unknown coupon)');
  }
  return campaignOf.get(code)!;
}

const seen = new Set<string>();
const net = new Map<string, number>();
function report(): void {
  const rows = [...net].sort((a, b) => b[1] - a[1]);
  console.log(JSON.stringify({ at: new Date().toISOString(), net_redemptions_by_campaign: Object.fromEntries(rows) }));
}

const admin = kafka.admin();
await admin.connect();
const offsets = await admin.fetchTopicOffsets(topic);
await admin.disconnect();
const ends = new Map(offsets.map((o) => [o.partition, Number(o.high)]));
// The partitions that hold records now (retention may have removed all of a partition's).
const pending = new Set(offsets.filter((o) => Number(o.high) > Number(o.low)).map((o) => o.partition));
function reached(partition: number): void {
  pending.delete(partition);
  if (pending.size === 0) done();
}

const groupId = once ? `analyst-once-${randomBytes(4).toString('hex')}` : env('ANALYST_GROUP', 'analyst-campaign-redemptions');
// A fetch lingers at most half a second: disconnect() waits for the one in flight (KafkaJS's default 5 s).
const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 500 });
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: true });
let done: () => void = () => {};
const finished = new Promise<void>((resolve) => (done = resolve));
if (once && pending.size === 0) done();
await consumer.run({
  autoCommit: !once,
  eachMessage: async ({ partition, message }) => {
    const end = ends.get(partition) ?? 0;
    if (once && Number(message.offset) >= end) return reached(partition); // written after the start: not part of this run
    if (message.value) {
      const r = (await registry.decode(message.value)) as Decided;
      const source = `${r.source_partition}/${r.source_offset}`;
      if (r.decision === 'APPLIED' && !seen.has(source)) {
        seen.add(source);
        const c = r.campaign_id ?? (await campaign(r.coupon_code));
        net.set(c, (net.get(c) ?? 0) + (r.op === 'REDEEM' ? 1 : -1));
      }
    }
    if (once && Number(message.offset) + 1 >= end) reached(partition);
  },
});

if (once) {
  await finished;
  report();
} else {
  setInterval(report, 60_000);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
await consumer.disconnect();
if (once) {
  await admin.connect();
  await admin.deleteGroups([groupId]).catch(() => undefined);
  await admin.disconnect();
}
await db.destroy();
