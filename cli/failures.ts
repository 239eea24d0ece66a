/**
 * How a command says it failed. An expected failure (a service that does not answer, a busy port, a
 * database that is not there) is one line naming the cause and the fix; a stack trace only with
 * `--verbose`. Commands check that the services they need answer before they start, so that a service
 * that is down fails the command at once instead of after the clients' retries.
 */
import type { Config } from '../lib/config.js';
import { ConfigError, RedemptionError } from '../lib/errors.js';
import { tcpAnswers } from '../lib/net.js';

/** A failure the user can fix: its message names the cause and the fix, and is all they need to read. */
export class ExpectedFailure extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
    this.name = 'ExpectedFailure';
  }
}

/** Ctrl-C: the command stopped where its message says, and says how to go on. Exit status 130. */
export class Interrupted extends ExpectedFailure {
  constructor(message: string) {
    super(message, 130);
    this.name = 'Interrupted';
  }
}

export type Service = 'kafka' | 'registry' | 'redis' | 'mysql';

type Services = Pick<Config, 'kafkaBrokers' | 'schemaRegistryUrl' | 'redisUrl' | 'redisClusterNodes' | 'mysqlUrl'>;

interface Endpoint {
  host: string;
  port: number;
}

const STACK_UP = 'npm run redeem -- stack up';

function urlEndpoint(raw: string, defaultPort: number): Endpoint {
  const url = new URL(raw);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? defaultPort : Number(url.port) };
}

function hostPort(raw: string): Endpoint {
  const at = raw.lastIndexOf(':');
  return { host: raw.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(raw.slice(at + 1)) };
}

/** Where each service is, the setting that says so, and how to bring it back. */
function describeService(service: Service, c: Services): { name: string; endpoints: Endpoint[]; setting: string } {
  switch (service) {
    case 'kafka':
      return { name: 'Kafka', endpoints: c.kafkaBrokers.map(hostPort), setting: 'KAFKA_BROKERS' };
    case 'registry': {
      const registry = new URL(c.schemaRegistryUrl);
      return {
        name: 'the schema registry',
        endpoints: [urlEndpoint(c.schemaRegistryUrl, registry.protocol === 'https:' ? 443 : 80)],
        setting: 'SCHEMA_REGISTRY_URL',
      };
    }
    case 'redis':
      return c.redisClusterNodes.length > 0
        ? { name: 'Redis Cluster', endpoints: c.redisClusterNodes.map((n) => ({ host: n.host, port: n.port })), setting: 'REDIS_CLUSTER_NODES' }
        : { name: 'Redis', endpoints: [urlEndpoint(c.redisUrl, 6379)], setting: 'REDIS_URL' };
    case 'mysql':
      return { name: 'MySQL', endpoints: [urlEndpoint(c.mysqlUrl, 3306)], setting: 'MYSQL_URL' };
  }
}

const show = (e: Endpoint) => `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;

function downMessage(service: Service, c: Services, reason?: string): string {
  const d = describeService(service, c);
  const where = d.endpoints.map(show).join(', ');
  return `${d.name} does not answer at ${where}${reason ? ` (${reason})` : ''}; start it (${STACK_UP} for the local one) or point ${d.setting} at one that runs`;
}

/**
 * Fails at once, in one line, when a service the command needs does not take connections: without this,
 * a command with Kafka down spent 25 s in KafkaJS's retries before failing with a stack trace.
 */
export async function requireServices(c: Services, services: readonly Service[], timeoutMs = 2000): Promise<void> {
  const answers = await Promise.all(
    services.map(async (service) => {
      const { endpoints } = describeService(service, c);
      const up = await Promise.all(endpoints.map((e) => tcpAnswers(e.host, e.port, timeoutMs)));
      return up.some(Boolean);
    }),
  );
  const down = services.filter((_, i) => !answers[i]);
  if (down.length > 0) throw new ExpectedFailure(down.map((s) => downMessage(s, c)).join('; and '));
}

/** The error and its causes, outermost first. */
function chain(error: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = error; e !== undefined && e !== null && out.length < 10; e = (e as { cause?: unknown }).cause) out.push(e);
  return out;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET']);

interface Field {
  name?: unknown;
  code?: unknown;
  port?: unknown;
  address?: unknown;
  message?: unknown;
}

/**
 * One line for an expected failure, or null for an unexpected one (a bug, shown with its message and,
 * with --verbose, its stack). `config`: the command's settings, to name the service and its setting.
 */
export function explainFailure(error: unknown, config?: Services): string | null {
  if (error instanceof ExpectedFailure) return error.message;
  if (error instanceof ConfigError) return error.message;
  const errors = chain(error) as Field[];
  const code = (e: Field) => (typeof e.code === 'string' ? e.code : undefined);
  const busy = errors.find((e) => code(e) === 'EADDRINUSE');
  if (busy) {
    // The error that wrapped the system's names the setting (METRICS_PORT) and the fix.
    const named = errors[errors.indexOf(busy) - 1];
    return named && typeof named.message === 'string' ? named.message : `port ${String(busy.port)} is already in use: ${String(busy.message)}`;
  }
  // MySQL's own answer, not wrapped in a consumer failure (which names it itself).
  const top = code(errors[0]!);
  if (top === 'ER_NO_SUCH_TABLE' || top === 'ER_BAD_DB_ERROR') {
    return `the database in MYSQL_URL is missing or not migrated (${String(errors[0]!.message)}); run \`npm run redeem -- migrate\``;
  }
  if (error instanceof RedemptionError && (error.code === 'STORAGE_UNAVAILABLE' || error.code === 'SCHEMA_REGISTRY_UNAVAILABLE')) {
    const setting = error.code === 'STORAGE_UNAVAILABLE' ? 'MYSQL_URL' : 'SCHEMA_REGISTRY_URL';
    // Not retriable: it answered and refused the credentials (lib/mysql.ts mysqlConnectError).
    if (!error.retriable) return `${error.message}; check the user and password in ${setting}`;
    return `${error.message}; check that it runs (${STACK_UP} for the local one) and ${setting}`;
  }
  if (!config) return null;
  const kafka = errors.some((e) => typeof e.name === 'string' && e.name.startsWith('KafkaJS'));
  const sasl = errors.find((e) => e.name === 'KafkaJSSASLAuthenticationError');
  if (sasl) return `Kafka refuses the SASL credentials (${String(sasl.message)}); check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD(_FILE)`;
  const network = errors.find((e) => NETWORK_CODES.has(code(e) ?? '') || e.name === 'KafkaJSConnectionError');
  if (!network) return null;
  const reason = String(network.message);
  // Name the service by the port the connection went to; else by the client that failed.
  const port = typeof network.port === 'number' ? network.port : undefined;
  const byPort = (['kafka', 'registry', 'redis', 'mysql'] as const).find((s) => describeService(s, config).endpoints.some((e) => e.port === port));
  const service = byPort ?? (kafka ? 'kafka' : undefined);
  return service ? downMessage(service, config, reason) : null;
}

/** The stack of an error and of each of its causes. */
export function stackTrace(error: unknown): string {
  return chain(error)
    .map((e, i) => `${i === 0 ? '' : 'caused by: '}${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
    .join('\n');
}

/** An unexpected error's message and its causes' messages, on one line. */
export function oneLine(error: unknown): string {
  const parts: string[] = [];
  for (const e of chain(error)) {
    const text = e instanceof RedemptionError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
    if (text !== '' && !parts.some((p) => p.includes(text))) parts.push(text);
  }
  return parts.join(': ').replace(/\s*\n\s*/g, ' ');
}
