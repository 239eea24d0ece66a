/**
 * `redeem cleanup`: removes everything a namespace (one set of REDEMPTION_TOPIC, AUDIT_TOPIC,
 * CONSUMER_GROUP, MYSQL_URL's database and REDIS_KEY_PREFIX) made: its topics, the consumer groups that
 * read them, its database, its Redis keys and its registry subjects. It finds them first, shows them, and
 * removes them only once confirmed. Nothing is matched loosely: topics and subjects by their exact names,
 * groups by their committed offsets on the namespace's topics, Redis keys under `<prefix>:`, and the
 * database only when all its tables are the pipeline's.
 */
import { createInterface } from 'node:readline/promises';

import type { Admin } from 'kafkajs';

import { withAdmin } from '../../lib/kafka.js';
import { databaseName, databaseTables, dropDatabase, withDatabase } from '../../lib/mysql.js';
import { removeRedisKeys } from '../../lib/namespace.js';
import { redisMasters } from '../../lib/redis.js';
import type { Runtime } from '../../lib/runtime.js';
import { pipelineTopics } from '../../lib/topics.js';
import { ExpectedFailure } from '../failures.js';

/** The tables the migrations create (migrations/), and knex's own: a database holding any other is not dropped. */
export const PIPELINE_TABLES = [
  'coupons',
  'decisions',
  'knex_migrations',
  'knex_migrations_lock',
  'pipeline_identity',
  'redemptions',
  'redriven_dead_letters',
] as const;

export interface CleanupPlan {
  topics: string[];
  groups: string[];
  /** The database to drop, or null (absent, or not only the pipeline's: see `keptDatabase`). */
  database: string | null;
  /** Why the namespace's database is kept, when it is. */
  keptDatabase?: string;
  redisPattern: string;
  redisKeys: number;
  subjects: string[];
}

async function limitedMap<T, R>(items: readonly T[], concurrency: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

/**
 * The groups that belong to the namespace: its own group, and every group with an offset committed on
 * one of its topics (replays, rebuilds, analysts). A group with live members stops the cleanup.
 */
async function namespaceGroups(admin: Admin, topics: readonly string[], ownGroup: string): Promise<string[]> {
  const all = (await admin.listGroups()).groups.map((g) => g.groupId);
  if (topics.length === 0) return all.filter((g) => g === ownGroup);
  const reads = await limitedMap(all, 16, async (groupId) => {
    if (groupId === ownGroup) return true;
    const offsets = await admin.fetchOffsets({ groupId, topics: [...topics] });
    return offsets.some((t) => t.partitions.some((p) => Number(p.offset) >= 0));
  });
  const groups = all.filter((_, i) => reads[i]).sort();
  if (groups.length === 0) return groups;
  const described = (await admin.describeGroups(groups)).groups;
  const busy = described.filter((g) => g.members.length > 0);
  if (busy.length > 0) {
    const list = busy.map((g) => `${g.groupId} (${g.members.length} member(s): ${[...new Set(g.members.map((m) => m.clientId))].join(', ')})`).join('; ');
    throw new ExpectedFailure(`cleanup: consumer groups of this namespace have live members: ${list}; stop those consumers first. Nothing removed`);
  }
  return groups;
}

async function countRedisKeys(rt: Runtime, pattern: string): Promise<number> {
  let count = 0;
  for (const node of redisMasters(await rt.connectedRedis())) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      count += keys.length;
      cursor = next;
    } while (cursor !== '0');
  }
  return count;
}

/** The URL the database is dropped as: MYSQL_ADMIN_URL's user when set (the pipeline's own may not drop). */
function dropUrl(rt: Runtime): string {
  return rt.config.mysqlAdminUrl === '' ? rt.config.mysqlUrl : withDatabase(rt.config.mysqlAdminUrl, databaseName(rt.config.mysqlUrl));
}

export async function planCleanup(rt: Runtime): Promise<CleanupPlan> {
  const wanted = pipelineTopics(rt.config).map((t) => t.topic);
  const { topics, groups } = await withAdmin(rt.kafka('redeem-cleanup'), async (admin) => {
    const existing = new Set(await admin.listTopics());
    const topics = wanted.filter((t) => existing.has(t));
    return { topics, groups: await namespaceGroups(admin, topics, rt.config.consumerGroup) };
  });
  const subjectNames = new Set(wanted.map((t) => `${t}-value`));
  const subjects = (await rt.registry().subjects()).filter((s) => subjectNames.has(s)).sort();
  const redisPattern = `${rt.config.redisKeyPrefix}:*`;
  const redisKeys = await countRedisKeys(rt, redisPattern);
  const name = databaseName(rt.config.mysqlUrl);
  const tables = await databaseTables(dropUrl(rt));
  const foreign = (tables ?? []).filter((t) => !(PIPELINE_TABLES as readonly string[]).includes(t));
  const keptDatabase = foreign.length > 0 ? `database ${name} also holds tables that are not the pipeline's (${foreign.join(', ')}): kept` : undefined;
  return { topics, groups, database: tables !== null && foreign.length === 0 ? name : null, keptDatabase, redisPattern, redisKeys, subjects };
}

export function formatPlan(plan: CleanupPlan): string {
  const list = (items: readonly string[]) => (items.length > 0 ? items.join(', ') : 'none');
  return [
    `topics           ${list(plan.topics)}`,
    `consumer groups  ${list(plan.groups)}`,
    `database         ${plan.database ?? (plan.keptDatabase ? `none (${plan.keptDatabase})` : 'none')}`,
    `Redis keys       ${plan.redisKeys} under ${plan.redisPattern}`,
    `registry         ${list(plan.subjects)}`,
  ].join('\n');
}

export function isEmptyPlan(plan: CleanupPlan): boolean {
  return plan.topics.length + plan.groups.length + plan.redisKeys + plan.subjects.length === 0 && plan.database === null;
}

/** Asks on the terminal; true only for y or yes. */
export async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/** Removes what the plan lists: groups first (they refer to the topics), the database last. */
export async function executeCleanup(rt: Runtime, plan: CleanupPlan, print: (line: string) => void): Promise<void> {
  await withAdmin(rt.kafka('redeem-cleanup'), async (admin) => {
    if (plan.groups.length > 0) await admin.deleteGroups(plan.groups);
    if (plan.groups.length > 0) print(`removed consumer groups ${plan.groups.join(', ')}`);
    if (plan.topics.length > 0) await admin.deleteTopics({ topics: plan.topics });
    if (plan.topics.length > 0) print(`removed topics ${plan.topics.join(', ')}`);
  });
  for (const subject of plan.subjects) await rt.registry().deleteSubject(subject);
  if (plan.subjects.length > 0) print(`removed registry subjects ${plan.subjects.join(', ')}`);
  const keys = await removeRedisKeys(await rt.connectedRedis(), plan.redisPattern);
  print(`removed ${keys} Redis key(s) under ${plan.redisPattern}`);
  if (plan.database !== null) {
    await dropDatabase(dropUrl(rt));
    print(`removed database ${plan.database}`);
  }
}

/**
 * The command: shows what the namespace has, asks (unless `yes`), removes it. Without a terminal to ask
 * on and without `yes` it removes nothing (exit 2): a script must say --yes.
 */
export async function cleanup(rt: Runtime, o: { yes: boolean }, print: (line: string) => void): Promise<void> {
  const plan = await planCleanup(rt);
  if (isEmptyPlan(plan)) {
    print(`nothing to remove: this namespace has no topics, groups, database, Redis keys or subjects${plan.keptDatabase ? ` (${plan.keptDatabase})` : ''}`);
    return;
  }
  print(`this namespace has:\n${formatPlan(plan)}`);
  if (!o.yes) {
    if (process.stdin.isTTY !== true) {
      throw new ExpectedFailure('cleanup: nothing removed: standard input is not a terminal, so nobody can confirm; rerun with --yes to remove the above', 2);
    }
    if (!(await confirm('remove all of the above? [y/N] '))) throw new ExpectedFailure('cleanup: not confirmed; nothing removed');
  }
  await executeCleanup(rt, plan, print);
}
