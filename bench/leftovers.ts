/**
 * What bench runs that did not reach their end left behind. A run stopped with Ctrl-C or SIGTERM removes
 * its namespace itself (bench/run.ts); one killed outright (SIGKILL, out of memory, the host restarted)
 * leaves its topics, databases, Redis keys and registry subjects, and every later run measures beside
 * them. A run's things are named after its id (bench/stages/context.ts): topics `bench-<id>...` (and
 * their subjects `<topic>-value`), databases `bench_<id>_<run>`, Redis keys `bench-<id>-<run>:...`;
 * they are found by their topics, databases and subjects.
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
import { removeRedisKeys, type SubjectRegistry } from '../lib/namespace.js';
import type { RedisClient } from '../lib/redis.js';
import { CHECKOUT_DIR } from '../scripts/checkout-dir.js';

/** One run's leftovers: its id, and the topics, databases and registry subjects found of it. */
export interface Leftover {
  id: string;
  topics: string[];
  databases: string[];
  /** `<topic>-value`, registered by the run's producers and consumers */
  subjects: string[];
}

const TOPIC_OF_RUN = /^bench-([0-9a-f]{6})(?:[.-]|$)/;
const DATABASE_OF_RUN = /^bench_([0-9a-f]{6})_/;

/** The run id a topic, subject (`<topic>-value`) or database name belongs to, or null when it is not a bench run's. */
export function benchRunOf(name: string, kind: 'topic' | 'subject' | 'database'): string | null {
  return (kind === 'database' ? DATABASE_OF_RUN : TOPIC_OF_RUN).exec(name)?.[1] ?? null;
}

/** Groups topic, database and subject names by the run they belong to, runs in id order; other names are ignored. */
export function groupByRun(topics: readonly string[], databases: readonly string[], subjects: readonly string[] = []): Leftover[] {
  const runs = new Map<string, Leftover>();
  const add = (names: readonly string[], kind: 'topic' | 'database' | 'subject', list: (run: Leftover) => string[]) => {
    for (const name of names) {
      const id = benchRunOf(name, kind);
      if (!id) continue;
      let run = runs.get(id);
      if (!run) runs.set(id, (run = { id, topics: [], databases: [], subjects: [] }));
      list(run).push(name);
    }
  };
  add(topics, 'topic', (r) => r.topics);
  add(databases, 'database', (r) => r.databases);
  add(subjects, 'subject', (r) => r.subjects);
  return [...runs.values()]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((r) => ({ id: r.id, topics: r.topics.sort(), databases: r.databases.sort(), subjects: r.subjects.sort() }));
}

/** Every bench run's topics, databases and subjects on these servers (the caller makes sure no run is under way). */
export async function findBenchNamespaces(kafka: Kafka, mysqlUrl: string, registry: SubjectRegistry): Promise<Leftover[]> {
  const topics = await withAdmin(kafka, (admin) => admin.listTopics());
  const subjects = await registry.subjects();
  const connection = await connectToServer(mysqlUrl);
  try {
    const [rows] = await connection.query<RowDataPacket[]>(`SHOW DATABASES LIKE 'bench\\_%'`);
    return groupByRun(
      topics,
      rows.map((row) => String(Object.values(row)[0])),
      subjects,
    );
  } finally {
    await connection.end();
  }
}

/**
 * Removes one run's leftovers: the topics and databases found, and its Redis keys (`bench-<id>-*`, its
 * runs' key prefixes: bench/stages/context.ts). Exact names, so nothing of a neighbour goes with them.
 */
export async function removeLeftover(o: Servers, leftover: Leftover): Promise<void> {
  if (leftover.topics.length > 0) await withAdmin(o.kafka, (admin) => admin.deleteTopics({ topics: leftover.topics }));
  await removeRedisKeys(o.redis, `bench-${leftover.id}-*`);
  for (const name of leftover.databases) await dropDatabase(withDatabase(o.mysqlUrl, name));
  for (const subject of leftover.subjects) await o.registry.deleteSubject(subject);
}

/** The servers a bench run's namespace lives on. */
export interface Servers {
  kafka: Kafka;
  redis: RedisClient;
  mysqlUrl: string;
  registry: SubjectRegistry;
}

/** One line per run, for the listing: its id, and what it left. */
export function describeLeftover(l: Leftover): string {
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  return `bench-${l.id}: ${count(l.topics.length, 'topic')}, ${count(l.databases.length, 'database')}, ${count(l.subjects.length, 'registry subject')} (${[...l.databases, ...l.topics, ...l.subjects].join(', ')})`;
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
export async function removeLeftovers(o: Servers & { print(line: string): void }): Promise<number> {
  const leftovers = await findBenchNamespaces(o.kafka, o.mysqlUrl, o.registry);
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
