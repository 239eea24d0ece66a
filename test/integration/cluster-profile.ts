import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { inject } from 'vitest';

import { lockClusterProfile } from '../../scripts/stack/cluster-lock.js';
import { kafkaClusterDown, kafkaClusterStarted, kafkaClusterUp, liveBrokers } from '../../scripts/stack/kafka-cluster.js';
import { redisClusterDown, redisClusterStarted, redisClusterStatus, redisClusterUp } from '../../scripts/stack/redis-cluster.js';

/**
 * The cluster profile (3-node Kafka, Redis Cluster) for the files that use it (CLUSTER_FILES). The run
 * takes the host's cluster lock (scripts/stack/cluster-lock.ts) in the background at the global setup
 * and holds it until the end, and stops only what it started; those files wait for the lock
 * (`clusterProfileUp`). Each cluster is started by the one file that uses it (`kafkaClusterForFile`,
 * kafka-failover.test.ts; `redisClusterForFile`, redis-cluster.test.ts) and stopped after it: three idle
 * brokers cost about 3% of a core each, and kept for the whole run they took 190 s of the suite's 1,300 s
 * of CPU; the six Redis nodes, kept for the whole run, about 11 s of its 880 s (2026-12-05).
 */
export const CLUSTER_FILES = ['kafka-failover', 'redis-cluster'];

export interface ClusterProfileRun {
  /** The file the tests read the state of the start from: `starting`, `up`, or `failed: <why>`. */
  statusFile: string;
  /** Waits for the start, stops what it started, lets the lock go. */
  finish(): Promise<void>;
}

export function startClusterProfile(print: (line: string) => void): ClusterProfileRun {
  const statusFile = join(tmpdir(), `redeem-cluster-profile-${process.pid}.status`);
  writeFileSync(statusFile, 'starting');
  // Until known, each cluster counts as another's: never stopped by this run.
  let kafkaRanBefore = true;
  let redisRanBefore = true;
  let release = () => {};
  const started = (async () => {
    release = await lockClusterProfile((file) => print(`waiting for the cluster profile: another run holds ${file}`));
    // Ports that answer for processes this checkout did not start: another checkout's cluster, left running.
    if (!redisClusterStarted() && redisClusterStatus().some((n) => n.up))
      throw new Error('the Redis Cluster ports (7000-7005) answer, but not for nodes this checkout started: stop them where they were started');
    if (!kafkaClusterStarted() && (await liveBrokers()).length > 0)
      throw new Error('the cluster Kafka ports (19092-19094) answer, but not for nodes this checkout started: stop them where they were started');
    kafkaRanBefore = kafkaClusterStarted();
    redisRanBefore = redisClusterStarted();
  })().then(
    () => writeFileSync(statusFile, 'up'),
    (e: Error) => writeFileSync(statusFile, `failed: ${e.message}`),
  );
  return {
    statusFile,
    async finish() {
      await started;
      try {
        // A file that started a cluster stops it itself; this is for one whose afterAll never ran.
        if (!kafkaRanBefore && kafkaClusterStarted()) await kafkaClusterDown(print);
        if (!redisRanBefore && redisClusterStarted()) await redisClusterDown(print);
      } finally {
        release();
        rmSync(statusFile, { force: true });
      }
    },
  };
}

/**
 * For the file that uses the 3-node Kafka: starts it unless it runs already (a developer's `stack up
 * --profile cluster`, left as it is), once the run holds the cluster lock (`clusterProfileUp` first);
 * `stop` stops what this started.
 */
export async function kafkaClusterForFile(print: (line: string) => void): Promise<{ stop(): Promise<void> }> {
  if (kafkaClusterStarted()) return { stop: async () => {} };
  await kafkaClusterUp(print);
  return { stop: () => kafkaClusterDown(print) };
}

/**
 * For the file that uses the Redis Cluster: starts it unless it runs already (a developer's `stack up
 * --profile cluster`, left as it is), once the run holds the cluster lock (`clusterProfileUp` first);
 * `stop` stops what this started.
 */
export async function redisClusterForFile(print: (line: string) => void): Promise<{ stop(): Promise<void> }> {
  if (redisClusterStarted()) return { stop: async () => {} };
  await redisClusterUp(print);
  return { stop: () => redisClusterDown(print) };
}

/** For a file of CLUSTER_FILES: waits until the global setup holds the cluster lock for the run. */
export async function clusterProfileUp(timeoutMs: number): Promise<void> {
  const statusFile = inject('clusterProfileStatus');
  if (!statusFile) throw new Error("the cluster profile is started by the integration projects' global setup (test/integration/global-setup.ts)");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = readFileSync(statusFile, 'utf8');
    if (status === 'up') return;
    if (status.startsWith('failed')) throw new Error(`the cluster profile did not start: ${status}`);
    if (Date.now() > deadline) throw new Error(`the cluster profile was not up within ${timeoutMs / 1000} s (status: ${status})`);
    await sleep(1000);
  }
}
