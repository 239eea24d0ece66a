import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vitest/config';

import { namedTestFiles } from './test/integration/named-files.js';

// The package's own name, as its users import it, resolves to the source (no build needed for tests).
const alias = { 'coupon-redemption-pipeline': fileURLToPath(new URL('./index.ts', import.meta.url)) };

/**
 * The integration files that must run alone, after the others: those that strike services other files
 * use (outages and the chaos run stop and stall the shared Redis, MariaDB and Kafka), use the cluster
 * profile (one cluster per host: its ports are fixed), or bound a time that a busy host stretches
 * (session timeouts, recovery times, gaps without decisions, rebalance counts, the benchmark's ratios).
 * Every other integration file works only in its own topics, group, database and key prefix (helpers.ts,
 * IsolatedPipeline) or on servers of its own on free ports, so several of them run at once.
 */
const ALONE = [
  'bench-smoke',
  'chaos',
  'kafka-failover',
  'kafkajs-patch',
  'liveness',
  'member-liveness',
  'membership',
  'outages',
  'recovery',
  'redis-cluster',
  'redis-failover',
].map((name) => `test/integration/${name}.test.ts`);

/** Integration files that run at once (workers); the machine has 2 cores, and most of a file's time is waiting. */
const INTEGRATION_WORKERS = 3;

// A run that names its files (`vitest run --project integration test/integration/x.test.ts`, as when
// landing a change) finds each of them in the `integration` project, whichever set it belongs to; the
// split into two projects is for runs of the whole suite.
const namesFiles = namedTestFiles().length > 0;

/** An integration project: its files, how many run at once, and its place in the run's order. */
function integration(name: string, files: { include: string[]; exclude: string[] }, maxWorkers: number, groupOrder: number) {
  return {
    resolve: { alias },
    test: {
      name,
      ...files,
      environment: 'node',
      maxWorkers,
      testTimeout: 180_000,
      hookTimeout: 120_000,
      // Named by both projects, set up once: the stack, the compiled CLI the tests spawn, the cluster profile.
      globalSetup: ['test/integration/global-setup.ts'],
      sequence: { groupOrder },
    },
  };
}

/**
 * Unit tests (pure logic, in-memory data) run first and in parallel. Then the integration files that keep
 * to their own data run a few at a time, then the others one at a time. All of them talk to the real
 * broker, registry, Redis and MariaDB, which share the 2-core machine.
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node', sequence: { groupOrder: 0 } },
      },
      integration('integration', { include: ['test/integration/**/*.test.ts'], exclude: namesFiles ? [] : ALONE }, namesFiles ? 1 : INTEGRATION_WORKERS, 1),
      integration('integration-alone', { include: namesFiles ? [] : ALONE, exclude: [] }, 1, 2),
    ],
  },
});
