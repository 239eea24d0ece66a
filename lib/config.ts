/**
 * Every setting the pipeline reads, declared once: its environment variable, default, why that default,
 * and how a value is checked. The configuration table of docs/configuration.md is printed from this list
 * (`npm run redeem -- config --markdown`), so the two cannot drift apart.
 */
import { readFileSync, statSync } from 'node:fs';

import { ConfigError, type SettingProblem } from './errors.js';
import { parseFaultPlan } from './faults.js';
import { parseRedisNodes } from './redis.js';
import { REDACTED, redactUrl, rememberSecret, rememberSecretsFromEnv } from './secrets.js';

interface SettingSpec<T> {
  env: string;
  default: string;
  doc: string;
  parse(raw: string): T;
  /** How `redeem config` shows the value, when it may carry a secret (a URL's password, a password). */
  show?(value: T): unknown;
}

const wholeNumber =
  (min = 1, max = Number.MAX_SAFE_INTEGER) =>
  (raw: string): number => {
    if (!/^\d+$/.test(raw.trim())) throw new Error(`must be a whole number, got "${raw}"`);
    const n = Number(raw);
    if (n < min || n > max) throw new Error(`must be between ${min} and ${max}, got ${n}`);
    return n;
  };

const url =
  (protocols: readonly string[]) =>
  (raw: string): string => {
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new Error(`must be a URL (${protocols.join(' or ')}), got "${redactUrl(raw)}"`);
    }
    if (!protocols.includes(parsed.protocol.replace(/:$/, ''))) {
      throw new Error(`must use ${protocols.join(' or ')}, got "${parsed.protocol}"`);
    }
    return raw;
  };

const name = (raw: string): string => {
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(raw)) throw new Error(`must be 1-200 of letters, digits, ".", "_" or "-", got "${raw}"`);
  return raw;
};

const brokers = (raw: string): string[] => {
  const list = raw
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  if (list.length === 0) throw new Error('must list at least one host:port');
  for (const b of list) if (!/^[^:\s]+:\d{1,5}$/.test(b)) throw new Error(`"${b}" is not host:port`);
  return list;
};

/** `auto` (resolved later against what it depends on, e.g. the cluster's size) or a value of `parse`. */
const autoOr =
  <T>(parse: (raw: string) => T) =>
  (raw: string): T | 'auto' =>
    raw.trim() === 'auto' ? 'auto' : parse(raw);

const mysqlUrl = (raw: string): string => {
  url(['mysql'])(raw);
  const database = new URL(raw).pathname.replace(/^\//, '');
  if (!/^[A-Za-z0-9_]{1,64}$/.test(database)) {
    throw new Error(`must name a database (letters, digits, "_") as its path, got "${database}"`);
  }
  return raw;
};

/** An IPv4 or IPv6 literal or a host name to listen on; never empty (Node would take that as every interface). */
const listenHost = (raw: string): string => {
  const host = raw.trim();
  if (!/^(?:[A-Za-z0-9.-]{1,253}|\[?[0-9A-Fa-f:.]{2,45}\]?)$/.test(host))
    throw new Error(`must be an IP address or host name to listen on, e.g. 127.0.0.1 or 0.0.0.0, got "${raw}"`);
  return host.replace(/^\[(.*)\]$/, '$1');
};

const level = (raw: string): string => {
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (!levels.includes(raw)) throw new Error(`must be one of ${levels.join(', ')}, got "${raw}"`);
  return raw;
};

/** For `show` of a setting that is a secret as a whole: whether it is set, never its value. */
export const showSecret = (value: unknown): string => (value === undefined || value === null || value === '' ? '' : REDACTED);

/** An optional choice among fixed values (case-insensitive); '' when unset. */
const optionalChoice =
  <T extends string>(allowed: readonly T[]) =>
  (raw: string): T | '' => {
    const value = raw.trim().toLowerCase();
    if (value === '') return '';
    if (!allowed.includes(value as T)) throw new Error(`must be one of ${allowed.join(', ')} (or empty for none), got "${raw}"`);
    return value as T;
  };

const flag = (raw: string): boolean => {
  const value = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(value)) return true;
  if (['false', '0', 'no', 'off', ''].includes(value)) return false;
  throw new Error(`must be true or false, got "${raw}"`);
};

const optionalText = (raw: string): string => raw;

/** A secret given inline: remembered so that no output ever shows it. */
const secretText = (raw: string): string => {
  rememberSecret(raw);
  return raw;
};

/**
 * A file the process must be able to read: checked now, so that a typo stops the start with the
 * setting's name instead of failing the first connection minutes later. '' when unset.
 */
const readableFile = (raw: string): string => {
  if (raw === '') return '';
  let text: Buffer;
  try {
    if (!statSync(raw).isFile()) throw new Error('not a regular file');
    text = readFileSync(raw);
  } catch (error) {
    throw new Error(`cannot read "${raw}": ${(error as Error).message.replace(/^[A-Z]+: /, '')}`, { cause: error });
  }
  if (text.length === 0) throw new Error(`"${raw}" is empty`);
  return raw;
};

/** A file holding a secret (a password file): readable, and its contents never shown. */
const secretFile = (raw: string): string => {
  const path = readableFile(raw);
  if (path !== '') rememberSecret(readSecretFile(path));
  return path;
};

/** The secret in a password file: its contents without the final line break an editor adds. */
export function readSecretFile(path: string): string {
  return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
}

/** A MySQL URL for administration (migrate): any database path, or none. */
const mysqlAdminUrl = (raw: string): string => (raw === '' ? '' : url(['mysql'])(raw));

const mysqlHost = (raw: string): string => {
  if (!/^[A-Za-z0-9.%_:-]{1,255}$/.test(raw)) throw new Error(`must be a MySQL account host such as %, localhost or 10.0.0.%, got "${raw}"`);
  return raw;
};

export const SETTINGS = {
  kafkaBrokers: { env: 'KAFKA_BROKERS', default: '127.0.0.1:9092', doc: 'Comma-separated Kafka bootstrap brokers.', parse: brokers },
  schemaRegistryUrl: {
    env: 'SCHEMA_REGISTRY_URL',
    default: 'http://127.0.0.1:8081/apis/ccompat/v7',
    doc: 'Confluent-compatible schema registry (Apicurio serves it under /apis/ccompat/v7).',
    parse: url(['http', 'https']),
    show: redactUrl,
  },
  redisUrl: {
    env: 'REDIS_URL',
    default: 'redis://127.0.0.1:6379',
    doc: 'Redis holding the dedupe fast path.',
    parse: url(['redis', 'rediss']),
    show: redactUrl,
  },
  mysqlUrl: {
    env: 'MYSQL_URL',
    default: 'mysql://root@127.0.0.1:3306/redemptions',
    doc: 'MySQL/MariaDB, the source of truth; the path names the database (created by `redeem migrate`).',
    parse: mysqlUrl,
    show: redactUrl,
  },
  redemptionTopic: {
    env: 'REDEMPTION_TOPIC',
    default: 'redemption.requested',
    doc: 'Topic of RedemptionRequested events; dead letters go to `<topic>.dlq`.',
    parse: name,
  },
  auditTopic: { env: 'AUDIT_TOPIC', default: 'redemption.decided', doc: 'Topic of RedemptionDecided audit records.', parse: name },
  topicPartitions: {
    env: 'TOPIC_PARTITIONS',
    default: '6',
    doc: 'Partitions of the topics the project creates: 6 lets up to 6 consumers share the load, few enough for a 2-core host.',
    parse: wholeNumber(1, 1000),
  },
  consumerGroup: { env: 'CONSUMER_GROUP', default: 'redemption-pipeline', doc: 'Consumer group of `redeem consume`.', parse: name },
  redisKeyPrefix: { env: 'REDIS_KEY_PREFIX', default: 'redeem', doc: 'Prefix of every Redis key, so several pipelines can share one Redis.', parse: name },
  decisionCacheTtlSeconds: {
    env: 'DECISION_CACHE_TTL_SECONDS',
    default: '604800',
    doc: 'How long Redis remembers a decided request (7 days). Past it MySQL still answers, so expiry never lets a retry apply twice.',
    parse: wholeNumber(1),
  },
  flushMaxMessages: {
    env: 'FLUSH_MAX_MESSAGES',
    default: '2000',
    doc: 'Most messages in one flush (one MySQL transaction), across partitions; bounds lock time, memory and the work a shutdown waits for. 5000 was 3% faster here and used 60 MiB more.',
    parse: wholeNumber(1, 100000),
  },
  flushConcurrency: {
    env: 'FLUSH_CONCURRENCY',
    default: '3',
    doc: 'Flushes one consumer runs at once in their MySQL transaction, on disjoint partitions (one more, past its transaction and publishing its audit records, may run beside them); chunks submitted meanwhile are merged into the next flush (group commit). 3 keeps MySQL, Redis and Kafka busy at once; measured best on 2 cores.',
    parse: wholeNumber(1, 16),
  },
  fetchQueueMaxMessages: {
    env: 'FETCH_QUEUE_MAX_MESSAGES',
    default: '1000',
    doc: "Messages a partition may hold between fetch and flush (decoded, waiting for its flush) before its fetching is paused; bounds memory under a backlog while keeping the next flush's records at hand. 1000 with 256 KiB fetches per partition: peak RSS of a 200,000-request drain 322 MiB against 529 with 4000 and 1 MiB, and no slower (docs/performance.md).",
    parse: wholeNumber(1, 1000000),
  },
  offsetCommitIntervalMs: {
    env: 'OFFSET_COMMIT_INTERVAL_MS',
    default: '100',
    doc: "Offsets are committed in the background, once a flush's decisions are in MySQL and its audit records acknowledged: a flush's offsets are in a commit that starts at most this long after it (one commit at a time, covering every flush since the last). Bounds what a crash redelivers (re-emitted unchanged); at most 2000, so that a member with lag moves its committed offsets at least every 2 s.",
    parse: wholeNumber(0, 2000),
  },
  fetchMaxBytes: {
    env: 'FETCH_MAX_BYTES',
    default: '1048576',
    doc: 'Most bytes one fetch returns (all partitions), bounding memory per fetch.',
    parse: wholeNumber(1024),
  },
  fetchMaxBytesPerPartition: {
    env: 'FETCH_MAX_BYTES_PER_PARTITION',
    default: '262144',
    doc: "Most bytes per partition per fetch (about 1,300 requests): a fetch is held on top of the partition's queue until a flush takes it.",
    parse: wholeNumber(1024),
  },
  fetchMaxWaitMs: {
    env: 'FETCH_MAX_WAIT_MS',
    default: '100',
    doc: 'How long the broker may hold a fetch that finds no new record (it answers as soon as one is there: fetch min bytes 1), and how long KafkaJS waits before it fetches again when every partition of the member is paused (its fetch queue full). 100 and 10 alternated: the same latency at 9,000/s and the same drains within the spread (docs/performance.md).',
    parse: wholeNumber(0, 60000),
  },
  heapGrowingPercent: {
    env: 'HEAP_GROWING_PERCENT',
    default: '150',
    doc: "`redeem consume`'s garbage-collection policy, not a cap: after each major collection V8 lets the old space grow to (1 + this/100) times what stayed live before it collects again (V8's own policy lets it grow up to 4 times, and a flush's garbage, promoted before it dies, piled up). Peak RSS of a 200,000-request drain (compiled CLI) and its CPU per 1,000 requests, 2 alternated drains each: 100: 213-217 MiB, 0.058-0.071 s; 150: 241-243 MiB, 0.053-0.068 s; 200: 257-261 MiB, 0.054-0.059 s; V8's policy (0): 329-348 MiB through tsx and 8% less CPU than 100 (docs/performance.md).",
    parse: wholeNumber(0, 1000),
  },
  partitionsConsumedConcurrently: {
    env: 'PARTITIONS_CONSUMED_CONCURRENTLY',
    default: '6',
    doc: "Partition batches KafkaJS hands over at once; as many as the topic has partitions, so that every partition's chunk can join the next flush.",
    parse: wholeNumber(1, 64),
  },
  sessionTimeoutMs: {
    env: 'SESSION_TIMEOUT_MS',
    default: '10000',
    doc: 'Group session timeout: how soon a killed member is noticed and its partitions move. Heartbeats also run during long work (a flush, a MySQL retry loop), so a slow flush does not count as dead.',
    parse: wholeNumber(6000, 300000),
  },
  heartbeatIntervalMs: {
    env: 'HEARTBEAT_INTERVAL_MS',
    default: '1000',
    doc: 'Heartbeat interval; at most a third of the session timeout (10 missed before the 10 s session ends).',
    parse: wholeNumber(100, 100000),
  },
  rebalanceTimeoutMs: {
    env: 'REBALANCE_TIMEOUT_MS',
    default: '20000',
    doc: 'How long members get to finish their batch and rejoin during a rebalance; a flush takes well under a second, so 20 s is ample and bounds how long a rebalance can wait for a dead joiner.',
    parse: wholeNumber(1000, 600000),
  },
  requestTimeoutMs: {
    env: 'REQUEST_TIMEOUT_MS',
    default: '30000',
    doc: 'KafkaJS request timeout; must exceed REBALANCE_TIMEOUT_MS, since the coordinator may hold a SyncGroup that long and a client that gives up first restarts its join.',
    parse: wholeNumber(1000, 600000),
  },
  mysqlLockWaitTimeoutSeconds: {
    env: 'MYSQL_LOCK_WAIT_TIMEOUT_SECONDS',
    default: '10',
    doc: "InnoDB lock wait timeout of the consumer's sessions: a flush stuck behind a foreign lock fails fast and is retried (with heartbeats going on) instead of hanging for MySQL's default 50 s.",
    parse: wholeNumber(1, 3600),
  },
  maxMessageBytes: {
    env: 'MAX_MESSAGE_BYTES',
    default: '65536',
    doc: 'A request larger than this is dead-lettered unread (its dead letter carries a truncated copy): no genuine request comes near it.',
    parse: wholeNumber(64, 1048576),
  },
  metricsPort: {
    env: 'METRICS_PORT',
    default: '9464',
    doc: "Port of the consumer's /metrics, /healthz and /readyz; 0 takes any free port (several consumers on one host).",
    parse: wholeNumber(0, 65535),
  },
  stallThresholdSeconds: {
    env: 'STALL_THRESHOLD_SECONDS',
    default: '60',
    doc: 'A consumer whose partitions have lag and that has committed no flush for this long reports itself stalled: /readyz answers 503 and the log says why. Well above a slow flush and its retries, well below what a checkout notices.',
    parse: wholeNumber(1, 86400),
  },
  metricsHost: {
    env: 'METRICS_HOST',
    default: '127.0.0.1',
    doc: "Address the consumer's /metrics, /healthz and /readyz listen on: loopback only by default, since they are unauthenticated; `0.0.0.0` (or an interface's address) lets a scraper on another host in.",
    parse: listenHost,
  },
  kafkaSsl: {
    env: 'KAFKA_SSL',
    default: 'false',
    doc: 'Connect to the brokers over TLS (certificates verified against the system CAs, or `KAFKA_SSL_CA_FILE`).',
    parse: flag,
  },
  kafkaSslCaFile: {
    env: 'KAFKA_SSL_CA_FILE',
    default: '',
    doc: "PEM file of the CA(s) that sign the brokers' certificates; needs `KAFKA_SSL=true`.",
    parse: readableFile,
  },
  kafkaSslCertFile: {
    env: 'KAFKA_SSL_CERT_FILE',
    default: '',
    doc: 'PEM client certificate, for brokers that require TLS client authentication; with `KAFKA_SSL_KEY_FILE`.',
    parse: readableFile,
  },
  kafkaSslKeyFile: { env: 'KAFKA_SSL_KEY_FILE', default: '', doc: 'PEM private key of `KAFKA_SSL_CERT_FILE`.', parse: secretFile },
  kafkaSaslMechanism: {
    env: 'KAFKA_SASL_MECHANISM',
    default: '',
    doc: 'SASL mechanism for the brokers: `scram-sha-512`, `scram-sha-256` or `plain` (send `plain` only over `KAFKA_SSL=true`); empty for none.',
    parse: optionalChoice(['plain', 'scram-sha-256', 'scram-sha-512'] as const),
  },
  kafkaSaslUsername: { env: 'KAFKA_SASL_USERNAME', default: '', doc: 'SASL user name.', parse: optionalText },
  kafkaSaslPassword: {
    env: 'KAFKA_SASL_PASSWORD',
    default: '',
    doc: 'SASL password (never printed); or use `KAFKA_SASL_PASSWORD_FILE`.',
    parse: secretText,
    show: showSecret,
  },
  kafkaSaslPasswordFile: {
    env: 'KAFKA_SASL_PASSWORD_FILE',
    default: '',
    doc: 'File holding the SASL password (one line), e.g. a mounted secret.',
    parse: secretFile,
  },
  schemaRegistryUsername: { env: 'SCHEMA_REGISTRY_USERNAME', default: '', doc: "User for the registry's HTTP basic authentication.", parse: optionalText },
  schemaRegistryPassword: {
    env: 'SCHEMA_REGISTRY_PASSWORD',
    default: '',
    doc: 'Password for the registry (never printed); or use `SCHEMA_REGISTRY_PASSWORD_FILE`.',
    parse: secretText,
    show: showSecret,
  },
  schemaRegistryPasswordFile: { env: 'SCHEMA_REGISTRY_PASSWORD_FILE', default: '', doc: 'File holding the registry password (one line).', parse: secretFile },
  schemaRegistryCaFile: {
    env: 'SCHEMA_REGISTRY_CA_FILE',
    default: '',
    doc: "PEM file of the CA(s) that sign an `https` registry's certificate.",
    parse: readableFile,
  },
  redisCaFile: {
    env: 'REDIS_CA_FILE',
    default: '',
    doc: 'PEM file of the CA(s) that sign the certificate of a `rediss://` Redis (the ACL user and password go in `REDIS_URL`).',
    parse: readableFile,
  },
  mysqlSslCaFile: {
    env: 'MYSQL_SSL_CA_FILE',
    default: '',
    doc: "PEM file of the CA(s) that sign MySQL's certificate: when set, every MySQL connection uses TLS and verifies the server.",
    parse: readableFile,
  },
  mysqlAdminUrl: {
    env: 'MYSQL_ADMIN_URL',
    default: '',
    doc: "An administrator's MySQL URL for `redeem migrate`: it creates the database, runs the migrations and creates or updates the user of `MYSQL_URL` with only the rights the pipeline needs (SELECT, INSERT, UPDATE on its database). Empty: `migrate` uses `MYSQL_URL` itself.",
    parse: mysqlAdminUrl,
    show: redactUrl,
  },
  mysqlRuntimeUserHost: {
    env: 'MYSQL_RUNTIME_USER_HOST',
    default: '%',
    doc: "The host part of the account `migrate` creates for `MYSQL_URL`'s user (with `MYSQL_ADMIN_URL`), e.g. `10.0.0.%` to allow only the application network.",
    parse: mysqlHost,
  },
  logLevel: { env: 'LOG_LEVEL', default: 'info', doc: 'pino log level.', parse: level },
  faults: {
    env: 'REDEEM_FAULTS',
    default: '',
    doc: 'Fault injection for tests and chaos runs, off by default: e.g. `crash-after-db-commit:0.02` kills the consumer with SIGKILL at that point of 2% of flushes. Points: crash-before-db-commit, crash-after-db-commit, crash-after-redis, crash-after-audit.',
    parse: parseFaultPlan,
  },
  redisClusterNodes: {
    env: 'REDIS_CLUSTER_NODES',
    default: '',
    doc: 'Redis Cluster seed nodes as comma-separated host:port (any few of the masters and replicas); when set, Redis Cluster is used instead of `REDIS_URL`. Empty: standalone Redis.',
    parse: parseRedisNodes,
  },
  topicReplicationFactor: {
    env: 'TOPIC_REPLICATION_FACTOR',
    default: 'auto',
    doc: 'Replicas of each partition of the topics the project creates; `auto` is min(3, brokers in the cluster). Checked against the cluster at topic creation. Existing topics keep theirs.',
    parse: autoOr(wholeNumber(1, 16)),
  },
  topicMinInsyncReplicas: {
    env: 'TOPIC_MIN_INSYNC_REPLICAS',
    default: 'auto',
    doc: '`min.insync.replicas` of those topics: an acks=all write needs this many replicas, so one broker can fail without losing an acknowledged request. `auto` is 2 with 3 or more replicas, else 1. At most `TOPIC_REPLICATION_FACTOR`.',
    parse: autoOr(wholeNumber(1, 16)),
  },
} satisfies Record<string, SettingSpec<unknown>>;

type Settings = typeof SETTINGS;
export type Config = { [K in keyof Settings]: ReturnType<Settings[K]['parse']> };

/**
 * Reads every setting from `env`, checks all of them, and throws one ConfigError naming each bad
 * setting and why, so an operator fixes them all in one go.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<keyof Settings, string>> = {}): Config {
  // Before anything can be printed about them: from here on every output path scrubs these values.
  rememberSecretsFromEnv(env);
  rememberSecretsFromEnv(Object.fromEntries(Object.entries(overrides).map(([key, value]) => [SETTINGS[key as keyof Settings].env, value])));
  const problems: SettingProblem[] = [];
  const config: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(SETTINGS) as [keyof Settings, SettingSpec<unknown>][]) {
    const raw = overrides[key] ?? env[spec.env] ?? spec.default;
    try {
      config[key] = spec.parse(raw);
    } catch (error) {
      problems.push({ setting: spec.env, problem: (error as Error).message });
    }
  }
  if (problems.length === 0) {
    const c = config as Config;
    if (c.heartbeatIntervalMs * 3 > c.sessionTimeoutMs) {
      problems.push({ setting: 'HEARTBEAT_INTERVAL_MS', problem: `must be at most a third of SESSION_TIMEOUT_MS (${c.sessionTimeoutMs})` });
    }
    if (c.requestTimeoutMs <= c.rebalanceTimeoutMs) {
      problems.push({
        setting: 'REQUEST_TIMEOUT_MS',
        problem: `must be greater than REBALANCE_TIMEOUT_MS (${c.rebalanceTimeoutMs}): the coordinator may hold a SyncGroup request that long`,
      });
    }
    if (c.topicReplicationFactor !== 'auto' && c.topicMinInsyncReplicas !== 'auto' && c.topicMinInsyncReplicas > c.topicReplicationFactor) {
      problems.push({
        setting: 'TOPIC_MIN_INSYNC_REPLICAS',
        problem: `must be at most TOPIC_REPLICATION_FACTOR (${c.topicReplicationFactor}): no write could ever succeed`,
      });
    }
    if (c.auditTopic === c.redemptionTopic) problems.push({ setting: 'AUDIT_TOPIC', problem: 'must differ from REDEMPTION_TOPIC' });
    problems.push(...securityProblems(c));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config as Config;
}

/**
 * Security settings that only make sense together. Each half-set combination is refused rather than
 * guessed at: a password without a mechanism would silently connect unauthenticated, a CA file without
 * TLS would look secured and not be.
 */
function securityProblems(c: Config): SettingProblem[] {
  const problems: SettingProblem[] = [];
  const problem = (setting: string, text: string) => problems.push({ setting, problem: text });
  const kafkaPasswordSet = c.kafkaSaslPassword !== '' || c.kafkaSaslPasswordFile !== '';
  if (c.kafkaSaslPassword !== '' && c.kafkaSaslPasswordFile !== '')
    problem('KAFKA_SASL_PASSWORD', 'is set together with KAFKA_SASL_PASSWORD_FILE; set one of them');
  if (c.kafkaSaslMechanism === '') {
    if (kafkaPasswordSet)
      problem(
        c.kafkaSaslPassword !== '' ? 'KAFKA_SASL_PASSWORD' : 'KAFKA_SASL_PASSWORD_FILE',
        'is set but KAFKA_SASL_MECHANISM is not (set it to scram-sha-512, scram-sha-256 or plain)',
      );
    if (c.kafkaSaslUsername !== '') problem('KAFKA_SASL_USERNAME', 'is set but KAFKA_SASL_MECHANISM is not');
  } else {
    if (c.kafkaSaslUsername === '') problem('KAFKA_SASL_USERNAME', `must be set with KAFKA_SASL_MECHANISM=${c.kafkaSaslMechanism}`);
    if (!kafkaPasswordSet) problem('KAFKA_SASL_PASSWORD', `(or KAFKA_SASL_PASSWORD_FILE) must be set with KAFKA_SASL_MECHANISM=${c.kafkaSaslMechanism}`);
  }
  if (!c.kafkaSsl) {
    for (const [setting, value] of [
      ['KAFKA_SSL_CA_FILE', c.kafkaSslCaFile],
      ['KAFKA_SSL_CERT_FILE', c.kafkaSslCertFile],
      ['KAFKA_SSL_KEY_FILE', c.kafkaSslKeyFile],
    ] as const) {
      if (value !== '') problem(setting, 'is set but KAFKA_SSL is not true: the connection would not use it');
    }
  }
  if ((c.kafkaSslCertFile === '') !== (c.kafkaSslKeyFile === ''))
    problem(c.kafkaSslCertFile === '' ? 'KAFKA_SSL_CERT_FILE' : 'KAFKA_SSL_KEY_FILE', 'KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together');
  const registryPasswordSet = c.schemaRegistryPassword !== '' || c.schemaRegistryPasswordFile !== '';
  if (c.schemaRegistryPassword !== '' && c.schemaRegistryPasswordFile !== '')
    problem('SCHEMA_REGISTRY_PASSWORD', 'is set together with SCHEMA_REGISTRY_PASSWORD_FILE; set one of them');
  if (registryPasswordSet && c.schemaRegistryUsername === '') problem('SCHEMA_REGISTRY_USERNAME', 'must be set when a registry password is');
  if (!registryPasswordSet && c.schemaRegistryUsername !== '')
    problem('SCHEMA_REGISTRY_PASSWORD', '(or SCHEMA_REGISTRY_PASSWORD_FILE) must be set with SCHEMA_REGISTRY_USERNAME');
  const registryUrl = new URL(c.schemaRegistryUrl);
  if (registryUrl.username || registryUrl.password)
    problem('SCHEMA_REGISTRY_URL', 'must not carry credentials; use SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD');
  if (c.schemaRegistryCaFile !== '' && registryUrl.protocol !== 'https:') problem('SCHEMA_REGISTRY_CA_FILE', 'is set but SCHEMA_REGISTRY_URL is not https');
  if (c.redisCaFile !== '' && !c.redisUrl.startsWith('rediss:')) problem('REDIS_CA_FILE', 'is set but REDIS_URL is not rediss:// (TLS)');
  if (c.mysqlAdminUrl !== '') {
    const admin = new URL(c.mysqlAdminUrl);
    const runtime = new URL(c.mysqlUrl);
    if (admin.host !== runtime.host) problem('MYSQL_ADMIN_URL', `must name the same server as MYSQL_URL (${runtime.host}), got ${admin.host}`);
    if (!runtime.username || decodeURIComponent(runtime.username) === decodeURIComponent(admin.username || 'root')) {
      problem('MYSQL_URL', 'must name its own user (not the administrator of MYSQL_ADMIN_URL): migrate creates it with only the rights the pipeline needs');
    }
  }
  return problems;
}

export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

/** The configuration as `redeem config` prints it: every value that may carry a secret redacted. */
export function printableConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(SETTINGS) as [keyof Settings, SettingSpec<unknown>][]) {
    const value = config[key];
    out[key] = spec.show ? spec.show(value) : value;
  }
  return out;
}

export function configTableMarkdown(): string {
  const rows = Object.values(SETTINGS).map((s: SettingSpec<unknown>) => `| \`${s.env}\` | \`${s.default}\` | ${s.doc} |`);
  return ['| Variable | Default | Meaning |', '|---|---|---|', ...rows].join('\n');
}
