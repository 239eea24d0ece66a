import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vitest/config';

import { excludedOnCommandLine, namedTestFiles } from './test/integration/named-files.js';
import SlowestFirstSequencer from './test/slowest-first-sequencer.js';

// The package's own name, as its users import it, resolves to the source (no build needed for tests).
const alias = { 'coupon-redemption-pipeline': fileURLToPath(new URL('./index.ts', import.meta.url)) };

/**
 * Integration files that bound a time a busy host stretches (gaps without decisions, recovery and
 * removal times, joins, rebalance counts, outages measured against the session timeout), or that use the
 * cluster profile (cluster-profile.ts: its Redis Cluster started by redis-cluster.test.ts, its 3-node
 * Kafka by kafka-failover.test.ts): they run after the others, three at a time. None of them
 * strikes a service another file uses: the outages and the chaos run strike a Redis, a MariaDB and a
 * broker of their own (scripts/stack/own-servers.ts). mysql-write-back holds the bench's server-wide
 * settings lock, releases it and asserts it takes it back at once: beside the files whose bench runs
 * wait for that lock (bench-smoke, bench-stages, bench-leftovers), a waiter took it first (a fresh
 * clone's run, 2026-12-07 16:27 UTC), so it runs after them.
 */
const TIMED = [
  'chaos',
  'kafka-failover',
  'kafkajs-patch',
  'liveness',
  'member-liveness',
  'member-sweep',
  'membership',
  'mysql-write-back',
  'outages',
  'outages-services',
  'recovery',
  'redis-cluster',
];

/**
 * Every other integration file works only in its own topics, group, database and key prefix (helpers.ts,
 * IsolatedPipeline) or on servers of its own on free ports: they run first, several at once. Most of a
 * file's time is waiting (for a broker, a session, a child process), so more run at once than the
 * machine's 2 cores.
 */
// Measured in this checkout, nothing else running (2026-12-05): 3 and 2 took 622 s, 4 and 3 499 s, the
// host's CPU 78% and 88% busy; the timed files' measured times stayed within their bounds (the kill -9
// replacement's first decision 8.4 s and 9.1 s against 10 s, a failover's longest gap 7.4 s against 20 s).
// On a slower machine (2026-12-07) the isolated files took 221 s of wall clock four at a time (883 s in
// all) and 201 s five at a time (1,025 s in all), with the whole suite at 464-488 s; the timed files
// (702 s in all, the longest 110 s) fill their three workers to within 3 s of a perfect split.
const WORKERS = { isolated: 5, timed: 3 };

// One glob per set, not lists of paths: vitest applies `--exclude` to globs only.
const glob = (names: readonly string[]) => `test/integration/{${names.join(',')}}.test.ts`;

// A run that names its files (`vitest run --project integration test/integration/x.test.ts`, as when
// landing a change) finds each of them in the `integration` project, one file at a time, whichever set it
// belongs to; the sets are for runs of the whole suite.
const namesFiles = namedTestFiles().length > 0;
const excluded = excludedOnCommandLine();

/** An integration project: its files, how many run at once, and its place in the run's order. */
function integration(name: string, files: { include: string[]; exclude: string[] }, maxWorkers: number, groupOrder: number) {
  return {
    resolve: { alias },
    test: {
      name,
      include: files.include,
      exclude: [...files.exclude, ...excluded],
      environment: 'node',
      maxWorkers,
      // A file's modules (KafkaJS, knex, the runtime) are imported once per worker, not once per file:
      // that cost about 110 s of CPU a run. Nothing a file keeps in a shared module outlives it: each
      // file's clients, servers and namespaces are its own and closed by its afterAll.
      isolate: false,
      testTimeout: 180_000,
      hookTimeout: 120_000,
      // Named by every integration project, set up once: the stack, the compiled CLI the tests spawn, the
      // cluster profile.
      globalSetup: ['test/integration/global-setup.ts'],
      sequence: { groupOrder },
    },
  };
}

/**
 * Unit tests (pure logic, in-memory data) run first and in parallel. Then the integration files, which
 * talk to the real broker, registry, Redis and MariaDB on the same 2-core machine: the isolated ones a
 * few at a time, then the timed ones three at a time.
 */
export default defineConfig({
  test: {
    sequence: { sequencer: SlowestFirstSequencer },
    projects: [
      {
        // Pure logic on in-memory data: the files share their workers' module cache (isolate: false), so
        // each module is imported once per worker rather than once per file (40 s of the suite's start
        // on one worker, 7 s so).
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          exclude: excluded,
          environment: 'node',
          isolate: false,
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      ...(namesFiles
        ? [integration('integration', { include: ['test/integration/**/*.test.ts'], exclude: [] }, 1, 1)]
        : [
            integration('integration', { include: ['test/integration/**/*.test.ts'], exclude: [glob(TIMED)] }, WORKERS.isolated, 1),
            integration('integration-timed', { include: [glob(TIMED)], exclude: [] }, WORKERS.timed, 2),
          ]),
    ],
  },
});
