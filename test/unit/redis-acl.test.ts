import { describe, expect, it } from 'vitest';

import { REDIS_RUNTIME_COMMANDS, redisRuntimeRules, redisSetUser } from '../../lib/redis-acl.js';

/** The Redis runtime user's ACL, exactly (docs/security.md lists it; least-privilege.test.ts runs the pipeline with it). */
describe('the Redis runtime ACL', () => {
  it('its prefix only, no channels, only the commands the pipeline sends', () => {
    expect(redisRuntimeRules('shop')).toEqual([
      'resetkeys',
      '~shop:*',
      'resetchannels',
      '-@all',
      '+get',
      '+set',
      '+mget',
      '+eval',
      '+exists',
      '+del',
      '+ping',
      '+info',
      '+cluster|slots',
    ]);
    expect(redisSetUser('shop-runtime', 'shop', 'pw').slice(0, 6)).toEqual(['ACL', 'SETUSER', 'shop-runtime', 'reset', 'on', '>pw']);
  });

  it('nothing that administers, lists keys or reaches past its prefix', () => {
    const never = ['flushall', 'flushdb', 'config', 'shutdown', 'acl', 'scan', 'keys', 'debug', 'module', 'client', 'script', 'function', 'monitor'];
    for (const command of REDIS_RUNTIME_COMMANDS) expect(never).not.toContain(command.split('|')[0]);
    expect(redisRuntimeRules('shop').filter((r) => r.startsWith('~') || r.startsWith('%') || r.startsWith('&'))).toEqual(['~shop:*']);
  });
});
