import { Redis } from 'ioredis';

/** The CA of a `rediss://` server (TLS itself is switched on by the URL's scheme). */
export interface RedisTls {
  ca: string;
  rejectUnauthorized: true;
}

/**
 * A Redis client that fails fast instead of queueing: callers treat Redis as a fast path and fall back
 * to MySQL, so a command waiting on a dead connection would only add latency.
 */
export function createRedis(redisUrl: string, tls?: RedisTls): Redis {
  const redis = new Redis(redisUrl, {
    ...(tls ? { tls } : {}),
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 2000,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  // While Redis is down every reconnect attempt emits an error; the commands that fail meanwhile are what
  // callers see, log and count, so the events themselves are only noise.
  redis.on('error', () => {});
  return redis;
}

/**
 * Connects once with the URL's credentials, without retrying, and reads `key`: what `redeem status`
 * calls usable. Throws Redis's own reason (WRONGPASS, NOPERM, a refused connection).
 */
export async function checkRedisUsable(redisUrl: string, key: string, tls?: RedisTls): Promise<void> {
  const redis = new Redis(redisUrl, { ...(tls ? { tls } : {}), lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 3000, commandTimeout: 3000, retryStrategy: () => null });
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

/** Resolves once the client is connected, or rejects after `timeoutMs`. */
export async function redisReady(redis: Redis, timeoutMs = 5000): Promise<void> {
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
