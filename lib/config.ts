import { ConfigError, type SettingProblem } from './errors.js';
import { parseFaultPlan } from './faults.js';
import { parseRedisNodes } from './redis.js';

/**
 * Every setting the pipeline reads, declared once: its environment variable, default, why that default,
 * and how a value is checked. The README's configuration table is printed from this list
 * (`npx redeem config --markdown`), so the two cannot drift apart.
 */
interface SettingSpec<T> {
  env: string;
  default: string;
  doc: string;
  parse(raw: string): T;
}

const wholeNumber = (min = 1, max = Number.MAX_SAFE_INTEGER) => (raw: string): number => {
  if (!/^\d+$/.test(raw.trim())) throw new Error(`must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new Error(`must be between ${min} and ${max}, got ${n}`);
  return n;
};

const url = (protocols: readonly string[]) => (raw: string): string => {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new Error(`must be a URL (${protocols.join(' or ')}), got "${raw}"`);
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
  const list = raw.split(',').map((b) => b.trim()).filter(Boolean);
  if (list.length === 0) throw new Error('must list at least one host:port');
  for (const b of list) if (!/^[^:\s]+:\d{1,5}$/.test(b)) throw new Error(`"${b}" is not host:port`);
  return list;
};

/** `auto` (resolved later against what it depends on, e.g. the cluster's size) or a value of `parse`. */
const autoOr = <T>(parse: (raw: string) => T) => (raw: string): T | 'auto' => (raw.trim() === 'auto' ? 'auto' : parse(raw));

const mysqlUrl = (raw: string): string => {
  url(['mysql'])(raw);
  const database = new URL(raw).pathname.replace(/^\//, '');
  if (!/^[A-Za-z0-9_]{1,64}$/.test(database)) {
    throw new Error(`must name a database (letters, digits, "_") as its path, got "${database}"`);
  }
  return raw;
};

const level = (raw: string): string => {
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (!levels.includes(raw)) throw new Error(`must be one of ${levels.join(', ')}, got "${raw}"`);
  return raw;
};

export const SETTINGS = {
  kafkaBrokers: { env: 'KAFKA_BROKERS', default: '127.0.0.1:9092', doc: 'Comma-separated Kafka bootstrap brokers.', parse: brokers },
  schemaRegistryUrl: {
    env: 'SCHEMA_REGISTRY_URL',
    default: 'http://127.0.0.1:8081/apis/ccompat/v7',
    doc: 'Confluent-compatible schema registry (Apicurio serves it under /apis/ccompat/v7).',
    parse: url(['http', 'https']),
  },
  redisUrl: { env: 'REDIS_URL', default: 'redis://127.0.0.1:6379', doc: 'Redis holding the dedupe fast path.', parse: url(['redis', 'rediss']) },
  mysqlUrl: {
    env: 'MYSQL_URL',
    default: 'mysql://root@127.0.0.1:3306/redemptions',
    doc: 'MySQL/MariaDB, the source of truth; the path names the database (created by `redeem migrate`).',
    parse: mysqlUrl,
  },
  redemptionTopic: { env: 'REDEMPTION_TOPIC', default: 'redemption.requested', doc: 'Topic of RedemptionRequested events; dead letters go to `<topic>.dlq`.', parse: name },
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
    doc: 'Flushes one consumer runs at once, on disjoint partitions; chunks submitted meanwhile are merged into the next flush (group commit). 3 keeps MySQL, Redis and Kafka busy at once; measured best on 2 cores.',
    parse: wholeNumber(1, 16),
  },
  fetchMaxBytes: { env: 'FETCH_MAX_BYTES', default: '4194304', doc: 'Most bytes one fetch returns (all partitions), bounding memory per fetch.', parse: wholeNumber(1024) },
  fetchMaxBytesPerPartition: { env: 'FETCH_MAX_BYTES_PER_PARTITION', default: '1048576', doc: 'Most bytes per partition per fetch.', parse: wholeNumber(1024) },
  fetchMaxWaitMs: { env: 'FETCH_MAX_WAIT_MS', default: '100', doc: 'How long the broker may hold a fetch to fill it: the linger that trades latency for batch size.', parse: wholeNumber(0, 60000) },
  partitionsConsumedConcurrently: {
    env: 'PARTITIONS_CONSUMED_CONCURRENTLY',
    default: '6',
    doc: 'Partition batches KafkaJS hands over at once; as many as the topic has partitions, so that every partition\'s chunk can join the next flush.',
    parse: wholeNumber(1, 64),
  },
  sessionTimeoutMs: {
    env: 'SESSION_TIMEOUT_MS',
    default: '45000',
    doc: 'Group session timeout: far above the worst flush, since heartbeats also run during long work.',
    parse: wholeNumber(6000, 300000),
  },
  heartbeatIntervalMs: { env: 'HEARTBEAT_INTERVAL_MS', default: '3000', doc: 'Heartbeat interval; well under a third of the session timeout.', parse: wholeNumber(100, 100000) },
  rebalanceTimeoutMs: {
    env: 'REBALANCE_TIMEOUT_MS',
    default: '60000',
    doc: 'How long members get to finish their batch and rejoin during a rebalance.',
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
    doc: 'Port of the consumer\'s /metrics, /healthz and /readyz; 0 takes any free port (several consumers on one host).',
    parse: wholeNumber(0, 65535),
  },
  stallThresholdSeconds: {
    env: 'STALL_THRESHOLD_SECONDS',
    default: '60',
    doc: 'A consumer whose partitions have lag and that has committed no flush for this long reports itself stalled: /readyz answers 503 and the log says why. Well above a slow flush and its retries, well below what a checkout notices.',
    parse: wholeNumber(1, 86400),
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
    if (c.topicReplicationFactor !== 'auto' && c.topicMinInsyncReplicas !== 'auto' && c.topicMinInsyncReplicas > c.topicReplicationFactor) {
      problems.push({ setting: 'TOPIC_MIN_INSYNC_REPLICAS', problem: `must be at most TOPIC_REPLICATION_FACTOR (${c.topicReplicationFactor}): no write could ever succeed` });
    }
    if (c.auditTopic === c.redemptionTopic) problems.push({ setting: 'AUDIT_TOPIC', problem: 'must differ from REDEMPTION_TOPIC' });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config as Config;
}

export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

export function configTableMarkdown(): string {
  const rows = Object.values(SETTINGS).map((s: SettingSpec<unknown>) => `| \`${s.env}\` | \`${s.default}\` | ${s.doc} |`);
  return ['| Variable | Default | Meaning |', '|---|---|---|', ...rows].join('\n');
}
