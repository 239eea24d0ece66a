/**
 * The Redis ACL of the pipeline's runtime user, as data: its keys (`<REDIS_KEY_PREFIX>:*` only, no pub/sub
 * channels) and the only commands the pipeline sends. `redeem acls` prints it as an `ACL SETUSER` line;
 * the tests make their Redis users with it. What the user cannot do: FLUSHALL/FLUSHDB, CONFIG, SHUTDOWN,
 * ACL (raising its own rights), KEYS/SCAN (listing other prefixes), DEBUG, MODULE, or touch a key outside
 * its prefix, also from a script. Cleaning a prefix (`redeem cleanup`, SCAN and UNLINK) is an
 * administrator's job.
 */

/**
 * The commands, each for a reason:
 * - `get`, `set`, `mget`: the decision cache, coupon versions, the last-flush marker, `status`'s check;
 * - `eval`: the flush's cache update (its script's own GET and SET are checked against the keys too);
 * - `exists`, `del`: the member liveness keys;
 * - `ping`; `info`: ioredis's ready check after each connect (server statistics, no keys or values);
 * - `cluster|slots`: the slot map, with REDIS_CLUSTER_NODES only.
 */
export const REDIS_RUNTIME_COMMANDS = ['get', 'set', 'mget', 'eval', 'exists', 'del', 'ping', 'info', 'cluster|slots'] as const;

/** The ACL rules of the runtime user of `keyPrefix` (without the user's name, state and password). */
export function redisRuntimeRules(keyPrefix: string): string[] {
  return ['resetkeys', `~${keyPrefix}:*`, 'resetchannels', '-@all', ...REDIS_RUNTIME_COMMANDS.map((c) => `+${c}`)];
}

/** `ACL SETUSER` for that user: its rules replace whatever it had (`reset`). */
export function redisSetUser(user: string, keyPrefix: string, password: string): string[] {
  return ['ACL', 'SETUSER', user, 'reset', 'on', `>${password}`, ...redisRuntimeRules(keyPrefix)];
}
