import { describe, expect, it } from 'vitest';

import { decisionRedisKey, versionRedisKey } from '../../consumers/decision-cache.js';
import { loadConfig } from '../../lib/config.js';
import { type ConfigError } from '../../lib/errors.js';
import { keySlot, parseRedisNodes } from '../../lib/redis.js';
import { resolveReplication } from '../../lib/topics.js';

describe('Redis Cluster hash slots', () => {
  it('match the values Redis documents (CRC16/XMODEM mod 16384)', () => {
    expect(keySlot('123456789')).toBe(12739);
    expect(keySlot('foo')).toBe(12182);
  });

  it("hash only the tag, so a coupon's decision and version keys share a slot", () => {
    expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'));
    for (const coupon of ['DEMO-000001', 'A}:r1', '1:{A', 'ü-coupon']) {
      expect(keySlot(decisionRedisKey('p', coupon, 'r1'))).toBe(keySlot(versionRedisKey('p', coupon)));
    }
  });

  it('hash the whole key when the tag is empty, as Redis does', () => {
    expect(keySlot('a{}b')).not.toBe(keySlot(''));
    expect(keySlot('{}x')).not.toBe(keySlot('{}y'));
  });
});

describe('cluster settings', () => {
  it('parse REDIS_CLUSTER_NODES, empty meaning standalone', () => {
    expect(parseRedisNodes('')).toEqual([]);
    expect(parseRedisNodes('127.0.0.1:7000, 127.0.0.1:7001')).toEqual([
      { host: '127.0.0.1', port: 7000 },
      { host: '127.0.0.1', port: 7001 },
    ]);
  });

  it('stop at start naming the bad setting', () => {
    const problemsOf = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (error) {
        return (error as ConfigError).problems.map((p) => p.setting);
      }
    };
    expect(problemsOf({ REDIS_CLUSTER_NODES: '127.0.0.1' })).toEqual(['REDIS_CLUSTER_NODES']);
    expect(problemsOf({ REDIS_CLUSTER_NODES: '127.0.0.1:70000' })).toEqual(['REDIS_CLUSTER_NODES']);
    expect(problemsOf({ TOPIC_REPLICATION_FACTOR: 'three' })).toEqual(['TOPIC_REPLICATION_FACTOR']);
    expect(problemsOf({ TOPIC_REPLICATION_FACTOR: '2', TOPIC_MIN_INSYNC_REPLICAS: '3' })).toEqual(['TOPIC_MIN_INSYNC_REPLICAS']);
    expect(loadConfig({ TOPIC_REPLICATION_FACTOR: '3', TOPIC_MIN_INSYNC_REPLICAS: '2' })).toMatchObject({
      topicReplicationFactor: 3,
      topicMinInsyncReplicas: 2,
    });
    expect(loadConfig({})).toMatchObject({ topicReplicationFactor: 'auto', topicMinInsyncReplicas: 'auto', redisClusterNodes: [] });
  });
});

describe('topic replication', () => {
  it('is min(3, brokers) with min.insync.replicas 2 from 3 replicas when left to auto', () => {
    const auto = { topicReplicationFactor: 'auto', topicMinInsyncReplicas: 'auto' } as const;
    expect(resolveReplication(auto, 1)).toEqual({ replicationFactor: 1, minInsyncReplicas: 1 });
    expect(resolveReplication(auto, 2)).toEqual({ replicationFactor: 2, minInsyncReplicas: 1 });
    expect(resolveReplication(auto, 3)).toEqual({ replicationFactor: 3, minInsyncReplicas: 2 });
    expect(resolveReplication(auto, 5)).toEqual({ replicationFactor: 3, minInsyncReplicas: 2 });
  });

  it('refuses, naming the setting, what the cluster cannot honour', () => {
    expect(() => resolveReplication({ topicReplicationFactor: 3, topicMinInsyncReplicas: 'auto' }, 1)).toThrow(
      /TOPIC_REPLICATION_FACTOR: is 3 but the cluster has 1 broker/,
    );
    expect(() => resolveReplication({ topicReplicationFactor: 'auto', topicMinInsyncReplicas: 2 }, 1)).toThrow(
      /TOPIC_MIN_INSYNC_REPLICAS: is 2 but topics get 1 replica/,
    );
  });
});
