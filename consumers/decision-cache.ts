import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { type SourcedRequest, type StoredDecision } from './types.js';
import { decisionKey } from './decision-records.js';

/**
 * Redis as the fast path of deduplication: the decisions MySQL has committed, one key per
 * (coupon, request) with a TTL, and per coupon the highest source offset whose decisions are committed
 * (its version). Written only after the MySQL commit, so Redis is never ahead of MySQL; a miss (expiry,
 * flush, restart, outage) only sends the request on to MySQL, which decides. Every call is one pipelined
 * round trip for the whole batch, and a Redis failure degrades to "not known" instead of stopping.
 */
export class DecisionCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
    private readonly logger: Logger,
    private readonly onError: (operation: 'lookup' | 'remember') => void = () => {},
  ) {}

  private decisionRedisKey(couponCode: string, requestId: string): string {
    return decisionRedisKey(this.prefix, couponCode, requestId);
  }

  private versionRedisKey(couponCode: string): string {
    return versionRedisKey(this.prefix, couponCode);
  }

  /**
   * The cached decisions for these requests, and the requests whose offset is at or below their coupon's
   * version (known redeliveries). Returns empty maps when Redis does not answer.
   */
  async lookup(requests: readonly SourcedRequest[]): Promise<{ decisions: Map<string, StoredDecision>; redelivered: number }> {
    const decisions = new Map<string, StoredDecision>();
    if (requests.length === 0) return { decisions, redelivered: 0 };
    const codes = [...new Set(requests.map((r) => r.request.coupon_code))];
    try {
      const pipeline = this.redis.pipeline();
      pipeline.mget(requests.map((r) => this.decisionRedisKey(r.request.coupon_code, r.request.request_id)));
      pipeline.mget(codes.map((c) => this.versionRedisKey(c)));
      const [[decisionError, values], [versionError, versions]] = (await pipeline.exec()) as [[Error | null, (string | null)[]], [Error | null, (string | null)[]]];
      if (decisionError) throw decisionError;
      if (versionError) throw versionError;
      for (const value of values) {
        if (value === null) continue;
        const stored = JSON.parse(value) as StoredDecision;
        decisions.set(decisionKey(stored.couponCode, stored.requestId), stored);
      }
      const versionOf = new Map(codes.map((c, i) => [c, parseVersion(versions[i] ?? null)]));
      const redelivered = requests.filter((r) => {
        const version = versionOf.get(r.request.coupon_code);
        return version !== undefined && version !== null && version.topic === r.topic && version.partition === r.partition && r.offset <= version.offset;
      }).length;
      return { decisions, redelivered };
    } catch (error) {
      this.onError('lookup');
      this.logger.warn({ err: error }, 'Redis lookup failed; MySQL decides this batch alone');
      return { decisions: new Map(), redelivered: 0 };
    }
  }

  /** Caches committed decisions and raises each coupon's version; never lowers it. */
  async remember(decisions: readonly StoredDecision[]): Promise<void> {
    if (decisions.length === 0) return;
    const versions = new Map<string, StoredDecision>();
    for (const d of decisions) {
      const seen = versions.get(d.couponCode);
      if (!seen || d.sourceOffset > seen.sourceOffset) versions.set(d.couponCode, d);
    }
    try {
      // One command for the whole batch: a pipeline of thousands of SETs costs more in the client than
      // in Redis.
      const keys = decisions.map((d) => this.decisionRedisKey(d.couponCode, d.requestId));
      const values = decisions.map((d) => JSON.stringify(d));
      const pipeline = this.redis.pipeline();
      pipeline.eval(SET_ALL_WITH_TTL, keys.length, ...keys, this.ttlSeconds, ...values);
      pipeline.set(lastFlushKey(this.prefix), JSON.stringify({ at: Date.now(), consumerId: decisions[0]!.consumerId, decisions: decisions.length }));
      const raised = [...versions];
      pipeline.eval(
        RAISE_VERSIONS,
        raised.length,
        ...raised.map(([code]) => this.versionRedisKey(code)),
        this.ttlSeconds,
        ...raised.flatMap(([, d]) => [d.sourceTopic, d.sourcePartition, d.sourceOffset]),
      );
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([error]) => error);
      if (failed) throw failed[0];
    } catch (error) {
      this.onError('remember');
      this.logger.warn({ err: error }, 'Redis update failed; the decisions are safe in MySQL');
    }
  }
}

/**
 * Redis keys, collision-free whatever the ids contain: the coupon code's length comes first, so the
 * code's end is known without a separator that could also occur inside it (with a plain separator,
 * coupon "A}:r1" and request "x" would share a key with coupon "A" and request "r1}:x"). The braces make
 * a coupon's keys share a hash slot. The batch scripts below touch many keys at once: this needs a
 * standalone Redis, not Redis Cluster.
 */
export function decisionRedisKey(prefix: string, couponCode: string, requestId: string): string {
  return `${prefix}:d:${couponCode.length}:{${couponCode}}${requestId}`;
}

export function versionRedisKey(prefix: string, couponCode: string): string {
  return `${prefix}:v:${couponCode.length}:{${couponCode}}`;
}

/** KEYS: the decision keys; ARGV[1]: the TTL; ARGV[2..]: the values, in the keys' order. */
const SET_ALL_WITH_TTL = `
local ttl = ARGV[1]
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[i + 1], 'EX', ttl)
end
return #KEYS
`;

/** Where the last flush that decided something is recorded, for `redeem status`. */
export function lastFlushKey(prefix: string): string {
  return `${prefix}:last-flush`;
}

/**
 * A member that lost its partitions may still finish a flush after the new owner moved on, so a version
 * only ever rises. Stored as "topic|partition|offset". KEYS: version keys; ARGV[1]: the TTL; then a
 * (topic, partition, offset) triple per key.
 */
const RAISE_VERSIONS = `
local ttl = ARGV[1]
for i, key in ipairs(KEYS) do
  local topic, partition, offset = ARGV[3 * i - 1], ARGV[3 * i], ARGV[3 * i + 1]
  local current = redis.call('GET', key)
  local keep = false
  if current then
    local t, p, o = string.match(current, '^(.*)|(%d+)|(%d+)$')
    keep = t == topic and p == partition and tonumber(o) >= tonumber(offset)
  end
  if not keep then
    redis.call('SET', key, topic .. '|' .. partition .. '|' .. offset, 'EX', ttl)
  end
end
return #KEYS
`;

function parseVersion(value: string | null): { topic: string; partition: number; offset: number } | null {
  if (value === null) return null;
  const match = /^(.*)\|(\d+)\|(\d+)$/.exec(value);
  if (!match) return null;
  return { topic: match[1]!, partition: Number(match[2]), offset: Number(match[3]) };
}
