/**
 * The pipeline's Redis: a standalone server (`REDIS_URL`) or a Redis Cluster (`REDIS_CLUSTER_NODES`).
 * Both ioredis clients share their command API, so callers take either; the few things that differ
 * (which node a key lives on, scanning every master) are answered here.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';

export type RedisClient = Redis | Cluster;

/** The CA of a `rediss://` server (TLS itself is switched on by the URL's scheme). */
export interface RedisTls {
  ca: string;
  rejectUnauthorized: true;
}

export interface RedisNode {
  host: string;
  port: number;
}

/**
 * Fail fast instead of queueing: callers treat Redis as a fast path and fall back to MySQL, so a command
 * waiting on a dead connection would only add latency.
 */
const FAIL_FAST: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  commandTimeout: 2000,
  connectTimeout: 2000,
  retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
};

/**
 * A standalone client for `redisUrl`, or, when `clusterNodes` is not empty, a Cluster client seeded with
 * those nodes (it discovers the rest, and the slot map, from them).
 */
export function createRedis(redisUrl: string, clusterNodes: readonly RedisNode[] = [], tls?: RedisTls): RedisClient {
  const redis: RedisClient =
    clusterNodes.length > 0
      ? new Cluster([...clusterNodes], {
          enableOfflineQueue: false,
          redisOptions: { ...FAIL_FAST, ...(tls ? { tls } : {}) },
          // Keep reconnecting to the seeds (the cluster may be restarting), never give up for good.
          clusterRetryStrategy: (attempt) => Math.min(attempt * 200, 2000),
          // After a master dies its replica takes over within cluster-node-timeout; refreshing the slot
          // map every second puts commands on the new master soon after, instead of on the next MOVED.
          slotsRefreshInterval: 1000,
          slotsRefreshTimeout: 2000,
          // A MOVED/ASK or CLUSTERDOWN answer is retried briefly by ioredis; beyond that the caller degrades.
          retryDelayOnClusterDown: 200,
          retryDelayOnFailover: 200,
          maxRedirections: 4,
        })
      : new Redis(redisUrl, { ...FAIL_FAST, ...(tls ? { tls } : {}), lazyConnect: false });
  // While Redis is down every reconnect attempt emits an error; the commands that fail meanwhile are what
  // callers see, log and count, so the events themselves are only noise.
  redis.on('error', () => {});
  // A Cluster client also re-emits its nodes' errors as 'node error'.
  redis.on('node error', () => {});
  return redis;
}

/**
 * Connects once with the URL's credentials, without retrying, and reads `key`: what `redeem status`
 * calls usable. Throws Redis's own reason (WRONGPASS, NOPERM, a refused connection).
 */
export async function checkRedisUsable(redisUrl: string, key: string, tls?: RedisTls): Promise<void> {
  const redis = new Redis(redisUrl, {
    ...(tls ? { tls } : {}),
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 3000,
    commandTimeout: 3000,
    retryStrategy: () => null,
  });
  // A refused AUTH surfaces as an 'error' event, and connect() then only says the connection closed.
  let reason: Error | undefined;
  redis.on('error', (error: Error) => (reason ??= error));
  try {
    await redis.connect().catch((error: unknown) => {
      throw reason ?? error;
    });
    await redis.get(key);
  } finally {
    redis.disconnect();
  }
}

/** Resolves once the client is connected (for a cluster: the slot map is loaded), or rejects after `timeoutMs`. */
export async function redisReady(redis: RedisClient, timeoutMs = 5000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`Redis not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}

export function isCluster(redis: RedisClient): redis is Cluster {
  return redis instanceof Cluster;
}

/**
 * The clients to run a per-node command on (SCAN, FLUSHALL, INFO): every master of a cluster, or the one
 * standalone server.
 */
export function redisMasters(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}

/**
 * Which group of commands a key goes with so that each group can be one pipeline on one node: for a
 * cluster, the master serving the key's hash slot ("host:port", from the client's slot map); for a
 * standalone server, always the same group.
 */
export function redisNodeOf(redis: RedisClient, slot: number): string {
  if (!(redis instanceof Cluster)) return 'standalone';
  // Before the slot map is known, each slot is its own group: still correct, only more round trips.
  return redis.slots[slot]?.[0] ?? `slot:${slot}`;
}

/**
 * The Redis Cluster hash slot of a key: CRC16 (XMODEM) of the key, or of its hash tag (the part between
 * the first "{" and the next "}", when not empty), modulo 16384, as Redis computes it.
 */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  let start = 0;
  let end = bytes.length;
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) {
      start = open + 1;
      end = close;
    }
  }
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) ^ CRC16_TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!) & 0xffff;
  return crc % 16384;
}

const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let bit = 0; bit < 8; bit++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    table[i] = c;
  }
  return table;
})();

/** Parses `REDIS_CLUSTER_NODES`: empty for standalone, else a comma-separated list of host:port. */
export function parseRedisNodes(raw: string): RedisNode[] {
  const list = raw
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  return list.map((n) => {
    const match = /^([^:\s]+):(\d{1,5})$/.exec(n);
    if (!match) throw new Error(`"${n}" is not host:port`);
    const port = Number(match[2]);
    if (port < 1 || port > 65535) throw new Error(`"${n}" has a port outside 1-65535`);
    return { host: match[1]!, port };
  });
}
