import type { ChainableCommander } from 'ioredis';
import type { Logger } from 'pino';

import { isCluster, keySlot, type RedisClient, redisNodeOf } from '../lib/redis.js';
import { queuePacked } from '../lib/resp-command.js';
import { decisionKey } from './decision-records.js';
import { type SourcedRequest, type StoredDecision } from './types.js';

/**
 * Redis as the fast path of deduplication: the decisions MySQL has committed, one key per
 * (coupon, request) with a TTL (its value: `cacheValueOf`), and per coupon the highest source offset whose decisions are committed
 * (its version). Written only after the MySQL commit, so Redis is never ahead of MySQL; a miss (expiry,
 * flush, restart, outage) only sends the request on to MySQL, which decides. A Redis failure degrades to
 * "not known" instead of stopping.
 *
 * Round trips: standalone, each call is one pipelined round trip for the whole batch. On Redis Cluster a
 * command may only touch keys of one hash slot and a pipeline may only go to one node, so each call sends
 * one pipeline per master it touches (at once), holding one MGET or one script per slot: the round trips
 * grow with the nodes, not with the keys. A node that fails costs only its own keys (not known).
 */
export class DecisionCache {
  /** Pipelines sent so far (one per node per call): what the round-trip claim above is tested by. */
  nodeRoundTrips = 0;

  constructor(
    private readonly redis: RedisClient,
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
   * The indexes of `keys`, grouped by the node, then the slot, of their key, each group in key order:
   * indexes rather than an object per key (one per request was 2% of a drain's allocations). Standalone,
   * everything is one group: a standalone server takes keys of any slots in one command, and computing
   * slots would be wasted work.
   */
  private group(keys: readonly string[]): Map<string, Map<number, number[]>> {
    const cluster = isCluster(this.redis);
    const nodes = new Map<string, Map<number, number[]>>();
    for (let i = 0; i < keys.length; i++) {
      const slot = cluster ? keySlot(keys[i]!) : 0;
      const node = redisNodeOf(this.redis, slot);
      let slots = nodes.get(node);
      if (!slots) nodes.set(node, (slots = new Map()));
      const list = slots.get(slot);
      if (list) list.push(i);
      else slots.set(slot, [i]);
    }
    return nodes;
  }

  /** Runs one pipeline per node, at once; resolves with the nodes whose pipeline failed (and why). */
  private async perNode(
    groups: Map<string, Map<number, number[]>>,
    fill: (pipeline: ChainableCommander, slot: number, items: number[]) => void,
    read: (results: [Error | null, unknown][], slots: [number, number[]][]) => void,
  ): Promise<unknown[]> {
    const failures: unknown[] = [];
    await Promise.all(
      [...groups.values()].map(async (slots) => {
        try {
          const pipeline = this.redis.pipeline();
          const entries = [...slots];
          for (const [slot, items] of entries) fill(pipeline, slot, items);
          this.nodeRoundTrips += 1;
          const results = (await pipeline.exec()) ?? [];
          const failed = results.find(([error]) => error);
          if (failed) throw failed[0];
          read(results, entries);
        } catch (error) {
          failures.push(error);
        }
      }),
    );
    return failures;
  }

  /**
   * The cached decisions for these requests, and the requests whose offset is at or below their coupon's
   * version (known redeliveries). Keys on a node that does not answer are treated as not known, and
   * `answered` is false.
   */
  async lookup(requests: readonly SourcedRequest[]): Promise<{ decisions: Map<string, StoredDecision>; redelivered: number; answered: boolean }> {
    const decisions = new Map<string, StoredDecision>();
    if (requests.length === 0) return { decisions, redelivered: 0, answered: true };
    const codes = [...new Set(requests.map((r) => r.request.coupon_code))];
    // Key i is request i's decision for i < requests.length, then coupon i - requests.length's version.
    const keys = requests.map((r) => this.decisionRedisKey(r.request.coupon_code, r.request.request_id));
    for (const code of codes) keys.push(this.versionRedisKey(code));
    const versionOf = new Map<string, ReturnType<typeof parseVersion>>();
    const failures = await this.perNode(
      this.group(keys),
      (pipeline, _slot, items) => queuePacked(pipeline, 'mget', items.length === keys.length ? keys : items.map((i) => keys[i]!)),
      (results, slots) => {
        slots.forEach(([, items], s) => {
          const values = results[s]![1] as (string | null)[];
          items.forEach((i, j) => {
            const value = values[j] ?? null;
            if (i >= requests.length) {
              const code = codes[i - requests.length]!;
              versionOf.set(code, parseVersion(value));
            } else if (value !== null) {
              const { coupon_code, request_id } = requests[i]!.request;
              // A value this version cannot read is not known: MySQL decides.
              const stored = storedDecisionOf(coupon_code, request_id, value);
              if (stored) decisions.set(decisionKey(coupon_code, request_id), stored);
            }
          });
        });
      },
    );
    if (failures.length > 0) {
      this.onError('lookup');
      this.logger.warn({ err: failures[0], failedNodes: failures.length }, 'Redis lookup failed; MySQL decides what Redis did not answer');
    }
    const redelivered = requests.filter((r) => {
      const version = versionOf.get(r.request.coupon_code);
      // mutant: cache-version-check
      return version !== undefined && version !== null && version.topic === r.topic && version.partition === r.partition && r.offset <= version.offset;
    }).length;
    return { decisions, redelivered, answered: failures.length === 0 };
  }

  /** Caches committed decisions and raises each coupon's version; never lowers it. */
  async remember(decisions: readonly StoredDecision[]): Promise<void> {
    if (decisions.length === 0) return;
    const versions = new Map<string, StoredDecision>();
    for (const d of decisions) {
      const seen = versions.get(d.couponCode);
      if (!seen || d.sourceOffset > seen.sourceOffset) versions.set(d.couponCode, d);
    }
    const raisedTo = [...versions.values()];
    // Key i is decision i's for i < decisions.length, then the raised versions', then the last flush's.
    const keys = decisions.map((d) => this.decisionRedisKey(d.couponCode, d.requestId));
    for (const d of raisedTo) keys.push(this.versionRedisKey(d.couponCode));
    const lastFlush = keys.push(lastFlushKey(this.prefix)) - 1;
    const failures = await this.perNode(
      this.group(keys),
      (pipeline, _slot, items) => {
        // One script per slot for all its keys: a pipeline of thousands of SETs costs more in the client
        // than in Redis. Its arguments in the script's order (items are in key order: the decisions',
        // then the versions'), each built once: the decision keys, the version keys, then a value per
        // decision key and a ("topic|partition|", offset) pair per version key.
        const scriptKeys: string[] = [];
        const values: (string | number)[] = [];
        let decisionKeys = 0;
        for (const i of items) {
          if (i === lastFlush) pipeline.set(keys[i]!, JSON.stringify({ at: Date.now(), consumerId: decisions[0]!.consumerId, decisions: decisions.length }));
          else if (i < decisions.length) {
            scriptKeys.push(keys[i]!);
            values.push(cacheValueOf(decisions[i]!));
            decisionKeys += 1;
          } else {
            const raised = raisedTo[i - decisions.length]!;
            scriptKeys.push(keys[i]!);
            values.push(`${raised.sourceTopic}|${raised.sourcePartition}|`, raised.sourceOffset);
          }
        }
        if (scriptKeys.length === 0) return;
        queuePacked(pipeline, 'eval', [SET_AND_RAISE, scriptKeys.length, ...scriptKeys, this.ttlSeconds, decisionKeys, ...values]);
      },
      () => {},
    );
    if (failures.length > 0) {
      this.onError('remember');
      this.logger.warn({ err: failures[0], failedNodes: failures.length }, 'Redis update failed; the decisions are safe in MySQL');
    }
  }
}

/**
 * A cached decision's value: the stored decision without the coupon code and request id its key holds,
 * as a JSON array in a fixed order. As a JSON object with property names it was about twice the bytes
 * (about 280 against 110), which every flush stringified, sent, and Redis parsed and kept for the TTL.
 */
type CacheValue = [
  op: StoredDecision['op'],
  decision: StoredDecision['decision'],
  reason: StoredDecision['reason'],
  remainingQuota: number | null,
  sourceTopic: string,
  sourcePartition: number,
  sourceOffset: number,
  decidedAt: number,
  consumerId: string,
  campaignId: string | null,
];

export function cacheValueOf(d: StoredDecision): string {
  const value: CacheValue = [
    d.op,
    d.decision,
    d.reason,
    d.remainingQuota,
    d.sourceTopic,
    d.sourcePartition,
    d.sourceOffset,
    d.decidedAt,
    d.consumerId,
    d.campaignId ?? null,
  ];
  return JSON.stringify(value);
}

/** The stored decision of (couponCode, requestId) a cache value holds; null when it is not one. */
export function storedDecisionOf(couponCode: string, requestId: string, text: string): StoredDecision | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(value) || value.length !== 10) return null;
  const [op, decision, reason, remainingQuota, sourceTopic, sourcePartition, sourceOffset, decidedAt, consumerId, campaignId] = value as CacheValue;
  if (typeof sourceTopic !== 'string' || typeof sourceOffset !== 'number' || typeof sourcePartition !== 'number' || typeof decidedAt !== 'number') return null;
  return { couponCode, requestId, op, decision, reason, remainingQuota, sourceTopic, sourcePartition, sourceOffset, decidedAt, consumerId, campaignId };
}

/**
 * The tag of decision keys: d2, whose values are cacheValueOf's arrays. Members of an older version
 * (during a rolling upgrade) wrote objects under d: and read only there: each side misses the other's
 * entries, and MySQL answers.
 */
export const DECISION_KEYS = 'd2';

/**
 * Redis keys, collision-free whatever the ids contain: the coupon code's length comes first, so the
 * code's end is known without a separator that could also occur inside it (with a plain separator,
 * coupon "A}:r1" and request "x" would share a key with coupon "A" and request "r1}:x"). The braces make
 * a coupon's keys share a hash slot, so on Redis Cluster a coupon's decisions and version go in one
 * command; the cache groups a batch's keys by slot and node.
 */
export function decisionRedisKey(prefix: string, couponCode: string, requestId: string): string {
  return `${prefix}:${DECISION_KEYS}:${couponCode.length}:{${couponCode}}${requestId}`;
}

export function versionRedisKey(prefix: string, couponCode: string): string {
  return `${prefix}:v:${couponCode.length}:{${couponCode}}`;
}

/** Where the last flush that decided something is recorded, for `redeem status`. */
export function lastFlushKey(prefix: string): string {
  return `${prefix}:last-flush`;
}

/**
 * Caches decisions and raises versions, for keys of one slot (all keys of a batch, standalone).
 * A member that lost its partitions may still finish a flush after the new owner moved on, so a version
 * only ever rises. Stored as "topic|partition|offset".
 * KEYS: the decision keys, then the version keys. ARGV[1]: the TTL; ARGV[2]: how many decision keys;
 * then a value per decision key; then a ("topic|partition|", offset) pair per version key.
 * A version is set and the one it replaced read back in one call (SET ... GET, Redis 6.2), and put back
 * only where it was higher, in the same topic and partition (a former owner's late flush): the usual
 * raise is one call. Reading each version first and matching it with a pattern was two calls and most
 * of the script's time (4-7 of its 6-11 us of Redis CPU a request, 140-request flushes, 2026-12-07).
 */
const SET_AND_RAISE = `
local ttl = ARGV[1]
local decisions = tonumber(ARGV[2])
for i = 1, decisions do
  redis.call('SET', KEYS[i], ARGV[i + 2], 'EX', ttl)
end
local base = decisions + 2
for i = decisions + 1, #KEYS do
  local at = base + 2 * (i - decisions - 1)
  local place, offset = ARGV[at + 1], ARGV[at + 2]
  local was = redis.call('SET', KEYS[i], place .. offset, 'EX', ttl, 'GET')
  if was and string.sub(was, 1, #place) == place then
    local o = tonumber(string.sub(was, #place + 1))
    -- mutant: cache-version-rises
    if o and o > tonumber(offset) then
      redis.call('SET', KEYS[i], was, 'EX', ttl)
    end
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
