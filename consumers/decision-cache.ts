import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { decisionKey, type SourcedRequest, type StoredDecision } from './types.js';

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
    // The hash tag keeps a coupon's keys in one slot should this ever run on Redis Cluster.
    return `${this.prefix}:d:{${couponCode}}:${requestId}`;
  }

  private versionRedisKey(couponCode: string): string {
    return `${this.prefix}:v:{${couponCode}}`;
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
      const pipeline = this.redis.pipeline();
      for (const d of decisions) pipeline.set(this.decisionRedisKey(d.couponCode, d.requestId), JSON.stringify(d), 'EX', this.ttlSeconds);
      pipeline.set(lastFlushKey(this.prefix), JSON.stringify({ at: Date.now(), consumerId: decisions[0]!.consumerId, decisions: decisions.length }));
      for (const [code, d] of versions) {
        pipeline.eval(RAISE_VERSION, 1, this.versionRedisKey(code), d.sourceTopic, d.sourcePartition, d.sourceOffset, this.ttlSeconds);
      }
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([error]) => error);
      if (failed) throw failed[0];
    } catch (error) {
      this.onError('remember');
      this.logger.warn({ err: error }, 'Redis update failed; the decisions are safe in MySQL');
    }
  }
}

/** Where the last flush that decided something is recorded, for `redeem status`. */
export function lastFlushKey(prefix: string): string {
  return `${prefix}:last-flush`;
}

/**
 * A member that lost its partitions may still finish a flush after the new owner moved on, so a version
 * only ever rises. Stored as "topic|partition|offset".
 */
const RAISE_VERSION = `
local current = redis.call('GET', KEYS[1])
if current then
  local topic, partition, offset = string.match(current, '^(.*)|(%d+)|(%d+)$')
  if topic == ARGV[1] and partition == ARGV[2] and tonumber(offset) >= tonumber(ARGV[3]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3], 'EX', ARGV[4])
return 1
`;

function parseVersion(value: string | null): { topic: string; partition: number; offset: number } | null {
  if (value === null) return null;
  const match = /^(.*)\|(\d+)\|(\d+)$/.exec(value);
  if (!match) return null;
  return { topic: match[1]!, partition: Number(match[2]), offset: Number(match[3]) };
}
