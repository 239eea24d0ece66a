/**
 * The Redis Cluster profile of the local stack: six redis-server processes on 127.0.0.1:7000-7005
 * (three masters, three replicas, made with `redis-cli --cluster create --cluster-replicas 1`), each with
 * its own folder under .stack/redis-cluster/. They hold a cache only, so nothing is persisted except each
 * node's cluster configuration (nodes.conf), which lets a restarted node rejoin as it was.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { RedemptionError } from '../../lib/errors.js';
import { type Print, STACK_DIR, startedPid, stopProcess, waitFor as waitUntil } from './service.js';

const CLUSTER_DIR = join(STACK_DIR, 'redis-cluster');
const HOST = '127.0.0.1';
export const REDIS_CLUSTER_PORTS = [7000, 7001, 7002, 7003, 7004, 7005] as const;
/** How long a master may not answer before its replica is promoted: short, for a local stack. */
const NODE_TIMEOUT_MS = 2000;

export function redisClusterNodes(): string {
  return REDIS_CLUSTER_PORTS.map((p) => `${HOST}:${p}`).join(',');
}

function nodeDir(port: number): string {
  return join(CLUSTER_DIR, String(port));
}

function cli(port: number, ...args: string[]): { ok: boolean; out: string } {
  const result = spawnSync('redis-cli', ['-h', HOST, '-p', String(port), ...args], { encoding: 'utf8', timeout: 5000 });
  return { ok: result.status === 0 && !/^(Could not connect|ERR)/m.test(result.stdout + result.stderr), out: result.stdout };
}

/** The pid of the node on `port` if this stack started it and it still runs (pid file and process title). */
export function redisNodePid(port: number): number | null {
  return startedPid(join(nodeDir(port), 'redis.pid'), (args) => {
    const cmdline = args.join(' ');
    return cmdline.includes('redis-server') && cmdline.includes(`:${port}`);
  });
}

function answers(port: number): boolean {
  return cli(port, 'ping').out.trim() === 'PONG';
}

function clusterInfo(port: number): Record<string, string> {
  return Object.fromEntries(
    cli(port, 'cluster', 'info')
      .out.split(/\r?\n/)
      .filter((l) => l.includes(':'))
      .map((l) => l.split(':') as [string, string]),
  );
}

function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  return waitUntil(what, check, timeoutMs, { intervalMs: 250 });
}

/** Starts the node on `port` (daemonized, own folder) unless it already answers. */
export async function startRedisNode(port: number): Promise<void> {
  if (answers(port)) return;
  const dir = nodeDir(port);
  mkdirSync(dir, { recursive: true });
  const result = spawnSync(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      HOST,
      '--daemonize',
      'yes',
      '--dir',
      dir,
      '--pidfile',
      join(dir, 'redis.pid'),
      '--logfile',
      join(dir, 'redis.log'),
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      String(NODE_TIMEOUT_MS),
      // A cache: a restarted node starts empty and the pipeline asks MySQL for what Redis forgot.
      '--save',
      '',
      '--appendonly',
      'no',
    ],
    { encoding: 'utf8' },
  );
  if (result.error || result.status !== 0)
    throw new RedemptionError('STACK_FAILED', `redis-server on ${port} failed to start: ${result.error?.message ?? result.stderr}`);
  await waitFor(`redis node ${port} to answer`, () => answers(port), 10_000);
}

function clusterOk(): boolean {
  return REDIS_CLUSTER_PORTS.every((p) => answers(p) && clusterInfo(p).cluster_state === 'ok');
}

export async function redisClusterUp(print: Print = console.log): Promise<void> {
  if (spawnSync('sh', ['-c', 'command -v redis-server && command -v redis-cli']).status !== 0) {
    throw new RedemptionError('STACK_FAILED', 'the Redis Cluster profile needs redis-server and redis-cli: apt-get install redis-server');
  }
  for (const port of REDIS_CLUSTER_PORTS) await startRedisNode(port);
  // A node that knows only itself has never been part of a cluster: create it once, from fresh nodes.
  if (REDIS_CLUSTER_PORTS.every((p) => clusterInfo(p).cluster_known_nodes === '1')) {
    print('redis-cluster: creating the cluster (3 masters, 3 replicas)');
    const create = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...REDIS_CLUSTER_PORTS.map((p) => `${HOST}:${p}`), '--cluster-replicas', '1', '--cluster-yes'],
      { encoding: 'utf8' },
    );
    if (create.status !== 0) throw new RedemptionError('STACK_FAILED', `redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
  }
  await waitFor('the Redis Cluster to report cluster_state:ok on every node', clusterOk, 30_000);
  print(`redis-cluster: up on ${redisClusterNodes()} (REDIS_CLUSTER_NODES=${redisClusterNodes()})`);
}

export async function redisClusterDown(print: Print = console.log): Promise<void> {
  for (const port of REDIS_CLUSTER_PORTS) {
    const pid = redisNodePid(port);
    if (pid === null) continue;
    await stopProcess(pid, () => redisNodePid(port) !== null, 10_000);
    print(`redis-cluster: node ${port} stopped (pid ${pid})`);
  }
}

/** Removes the nodes' folders (cluster configuration included): the next `up` creates a new cluster. */
export function redisClusterReset(): void {
  rmSync(CLUSTER_DIR, { recursive: true, force: true });
}

export interface RedisNodeStatus {
  port: number;
  up: boolean;
  role: string;
  pid: number | null;
}

export function redisClusterStatus(): RedisNodeStatus[] {
  return REDIS_CLUSTER_PORTS.map((port) => {
    const up = answers(port);
    const role = up ? (cli(port, 'role').out.split('\n')[0]?.trim() ?? '?') : '-';
    return { port, up, role, pid: redisNodePid(port) };
  });
}

/** Whether this stack runs the cluster (any node of it started here). */
export function redisClusterStarted(): boolean {
  return REDIS_CLUSTER_PORTS.some((p) => redisNodePid(p) !== null);
}

/** The port of the master serving `slot`, from CLUSTER SHARDS/SLOTS as a live node sees it. */
export function masterOfSlot(slot: number): number {
  for (const port of REDIS_CLUSTER_PORTS) {
    if (!answers(port)) continue;
    const out = cli(port, '--json', 'cluster', 'slots').out;
    try {
      const ranges = JSON.parse(out) as [number, number, [string, number, string], ...unknown[]][];
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (range) return range[2][1];
    } catch {
      continue;
    }
  }
  throw new RedemptionError('STACK_FAILED', `no live node knows the master of slot ${slot}`);
}

/** Whether a replica of the master on `port` has a live link to it and has finished its first sync. */
function replicaInSync(port: number): boolean {
  const info = cli(port, 'INFO', 'replication');
  if (!info.ok) return false;
  // Lines "slaveN:ip=...,port=...,state=online,offset=...,lag=..." per replica.
  return /^slave\d+:.*state=online/m.test(info.out);
}

/**
 * kill -9 of the master serving `slot`; resolves once its replica has taken over (every live node
 * reports cluster_state:ok and another master serves the slot). Returns the killed port and the new
 * master's. The chaos run and the failover test use it; `startRedisNode` brings the killed node back,
 * as a replica of its successor.
 */
export async function killRedisMaster(slot: number): Promise<{ killed: number; promoted: number }> {
  const killed = masterOfSlot(slot);
  const pid = redisNodePid(killed);
  if (pid === null) throw new RedemptionError('STACK_FAILED', `redis node ${killed} was not started by this stack; not killing it`);
  // A replica that has not finished its first sync with the master refuses to take over (its data would
  // be too old): a cluster just created needs a few seconds for that, more on a busy host.
  await waitFor(`a replica of ${killed} in sync`, () => replicaInSync(killed), 60_000);
  process.kill(pid, 'SIGKILL');
  let promoted = killed;
  await waitFor(
    `a replica to take over slot ${slot} from ${killed}`,
    () => {
      try {
        promoted = masterOfSlot(slot);
      } catch {
        return false;
      }
      return promoted !== killed && REDIS_CLUSTER_PORTS.filter((p) => p !== killed).every((p) => clusterInfo(p).cluster_state === 'ok');
    },
    30_000,
  );
  return { killed, promoted };
}
