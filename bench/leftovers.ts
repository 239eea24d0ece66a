/**
 * What bench runs that did not reach their end left behind. A run stopped with Ctrl-C or SIGTERM removes
 * its namespace itself (bench/run.ts); one killed outright (SIGKILL, out of memory, the host restarted)
 * leaves its topics, databases and Redis keys, and every later run measures beside them. A run's things
 * are named after its id (bench/stages/context.ts): topics `bench-<id>...`, databases `bench_<id>_<run>`,
 * Redis keys `bench-<id>-<run>:...`; they are found by their topics and databases.
 *
 * Only with no run under way: a running bench holds the MySQL server's settings lock for its whole life
 * (bench/mysql-globals.ts), and so does the removal, so the namespace of a run in progress is never taken
 * for a leftover.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import type { Kafka } from 'kafkajs';
import type { RowDataPacket } from 'mysql2';

import { withAdmin } from '../lib/kafka.js';
import { connectToServer, dropDatabase, withDatabase } from '../lib/mysql.js';
import { removeRedisKeys } from '../lib/namespace.js';
import type { RedisClient } from '../lib/redis.js';
import { CHECKOUT_DIR } from '../scripts/checkout-dir.js';

/** One run's leftovers: its id, and the topics and databases found of it. */
export interface Leftover {
  id: string;
  topics: string[];
  databases: string[];
}

const TOPIC_OF_RUN = /^bench-([0-9a-f]{6})(?:[.-]|$)/;
const DATABASE_OF_RUN = /^bench_([0-9a-f]{6})_/;

/** The run id a topic or database name belongs to, or null when it is not a bench run's. */
export function benchRunOf(name: string, kind: 'topic' | 'database'): string | null {
  return (kind === 'topic' ? TOPIC_OF_RUN : DATABASE_OF_RUN).exec(name)?.[1] ?? null;
}

/** Groups topic and database names by the run they belong to, runs in id order; other names are ignored. */
export function groupByRun(topics: readonly string[], databases: readonly string[]): Leftover[] {
  const runs = new Map<string, Leftover>();
  const of = (id: string) => {
    let run = runs.get(id);
    if (!run) runs.set(id, (run = { id, topics: [], databases: [] }));
    return run;
  };
  for (const topic of topics) {
    const id = benchRunOf(topic, 'topic');
    if (id) of(id).topics.push(topic);
  }
  for (const database of databases) {
    const id = benchRunOf(database, 'database');
    if (id) of(id).databases.push(database);
  }
  return [...runs.values()].sort((a, b) => a.id.localeCompare(b.id)).map((r) => ({ ...r, topics: r.topics.sort(), databases: r.databases.sort() }));
}

/** Every bench run's topics and databases on these servers (the caller makes sure no run is under way). */
export async function findBenchNamespaces(kafka: Kafka, mysqlUrl: string): Promise<Leftover[]> {
  const topics = await withAdmin(kafka, (admin) => admin.listTopics());
  const connection = await connectToServer(mysqlUrl);
  try {
    const [rows] = await connection.query<RowDataPacket[]>(`SHOW DATABASES LIKE 'bench\\_%'`);
    return groupByRun(
      topics,
      rows.map((row) => String(Object.values(row)[0])),
    );
  } finally {
    await connection.end();
  }
}

/**
 * Removes one run's leftovers: the topics and databases found, and its Redis keys (`bench-<id>-*`, its
 * runs' key prefixes: bench/stages/context.ts). Exact names, so nothing of a neighbour goes with them.
 */
export async function removeLeftover(o: { kafka: Kafka; redis: RedisClient; mysqlUrl: string }, leftover: Leftover): Promise<void> {
  if (leftover.topics.length > 0) await withAdmin(o.kafka, (admin) => admin.deleteTopics({ topics: leftover.topics }));
  await removeRedisKeys(o.redis, `bench-${leftover.id}-*`);
  for (const name of leftover.databases) await dropDatabase(withDatabase(o.mysqlUrl, name));
}

/** One line per run, for the listing: its id, and how many topics and databases it left. */
export function describeLeftover(l: Leftover): string {
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  return `bench-${l.id}: ${count(l.topics.length, 'topic')}, ${count(l.databases.length, 'database')} (${[...l.databases, ...l.topics].join(', ')})`;
}

/** Where each bench run builds its consumer (bench/consumer-entry.ts): one directory per run, named by its pid. */
export const BUILDS_DIR = join(CHECKOUT_DIR, 'node_modules', '.cache', 'bench-cli');

/** The consumer builds of runs whose process is gone, which a killed run does not remove. */
export function orphanedBuilds(dir = BUILDS_DIR): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => /^\d+$/.test(name) && !processAlive(Number(name)))
    .map((name) => join(dir, name));
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes what runs that did not end left behind (their namespaces and consumer builds), printing each;
 * the caller holds the MySQL server's settings lock, so no run is under way. Returns how many runs' namespaces.
 */
export async function removeLeftovers(o: { kafka: Kafka; redis: RedisClient; mysqlUrl: string; print(line: string): void }): Promise<number> {
  const leftovers = await findBenchNamespaces(o.kafka, o.mysqlUrl);
  for (const leftover of leftovers) {
    o.print(`removing what a bench run that did not end left: ${describeLeftover(leftover)}`);
    await removeLeftover(o, leftover);
  }
  for (const build of orphanedBuilds()) {
    o.print(`removing the consumer build of a bench run that did not end: ${build}`);
    rmSync(build, { recursive: true, force: true });
  }
  return leftovers.length;
}
