/**
 * Whether each service the configuration names answers, and whether the pipeline can use it: a port
 * that accepts connections is not a database that takes our password. Probes the configured endpoints
 * (KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDIS_URL, MYSQL_URL), never fixed local addresses.
 */
import type { Runtime } from './runtime.js';

export type ProbeState = 'usable' | 'refused' | 'down';

export interface ServiceProbe {
  service: 'kafka' | 'registry' | 'redis' | 'mysql';
  address: string;
  state: ProbeState;
  /** Why it is not usable, when it is not. */
  detail?: string;
}

const TIMEOUT_MS = 5000;

function within<T>(ms: number, work: Promise<T>): Promise<T> {
  return Promise.race([work, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
}

/** A failure that came from the service answering (authentication, authorization) rather than not answering. */
function refusedBy(error: unknown): boolean {
  const text = `${(error as { code?: unknown }).code ?? ''} ${(error as Error).message ?? ''}`;
  return /ER_ACCESS_DENIED|ER_DBACCESS_DENIED|ER_BAD_DB_ERROR|NOAUTH|WRONGPASS|NOPERM|SASL|Authentication|401|403/i.test(text);
}

async function probe(service: ServiceProbe['service'], address: string, check: () => Promise<void>): Promise<ServiceProbe> {
  try {
    await within(TIMEOUT_MS, check());
    return { service, address, state: 'usable' };
  } catch (error) {
    return { service, address, state: refusedBy(error) ? 'refused' : 'down', detail: (error as Error).message };
  }
}

/** Probes the four services the pipeline needs, at once. */
export async function probeServices(rt: Runtime): Promise<ServiceProbe[]> {
  const { config } = rt;
  const mysql = new URL(config.mysqlUrl);
  const redis = new URL(config.redisUrl);
  const registry = new URL(config.schemaRegistryUrl);
  return Promise.all([
    probe('kafka', config.kafkaBrokers.join(','), async () => {
      const admin = rt.kafka('redeem-status').admin();
      await admin.connect();
      try {
        await admin.describeCluster();
      } finally {
        await admin.disconnect();
      }
    }),
    probe('registry', `${registry.host}${registry.pathname}`, async () => {
      const response = await fetch(new URL(`${config.schemaRegistryUrl.replace(/\/$/, '')}/subjects`), { signal: AbortSignal.timeout(TIMEOUT_MS) });
      if (!response.ok) throw new Error(`GET /subjects answered ${response.status}`);
    }),
    probe('redis', redis.host, async () => {
      const client = await rt.connectedRedis();
      await client.ping();
    }),
    probe('mysql', `${mysql.host}${mysql.pathname}`, async () => {
      await rt.knex().raw('SELECT 1 FROM coupons LIMIT 1');
    }),
  ]);
}
