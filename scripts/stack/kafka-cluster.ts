/**
 * The replicated Kafka profile of the local stack: three KRaft nodes, each broker and controller in one
 * process (a 3-voter controller quorum), from the same jars as the single node (.stack/kafka/libs),
 * on 127.0.0.1:19092-19094 (controllers 19192-19194), each with its own storage and log under
 * .stack/kafka-cluster/node-N/. Internal topics are replicated 3 ways with min.insync.replicas 2, so one
 * node can die without losing an acknowledged write or the group's offsets. The single-node stack on
 * 9092 is left alone: the two run side by side.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { RedemptionError } from '../../lib/errors.js';
import { brokersSeenBy, formatKafkaStorage, installKafkaJars, kafkaJavaArgs, newClusterId } from './kafka.js';
import { logTail, type Print, STACK_DIR, stackMarker, startDetached, startedPid, stopProcess } from './service.js';

export { brokersSeenBy } from './kafka.js';

const CLUSTER_DIR = join(STACK_DIR, 'kafka-cluster');
const HOST = '127.0.0.1';
export const KAFKA_NODE_IDS = [1, 2, 3] as const;
export type KafkaNodeId = (typeof KAFKA_NODE_IDS)[number];

export const brokerPort = (id: number): number => 19091 + id;
const controllerPort = (id: number): number => 19191 + id;
const nodeDir = (id: number): string => join(CLUSTER_DIR, `node-${id}`);
const name = (id: number): string => `kafka-cluster-${id}`;

export function kafkaClusterBrokers(): string {
  return KAFKA_NODE_IDS.map((id) => `${HOST}:${brokerPort(id)}`).join(',');
}

function properties(id: number): string {
  const voters = KAFKA_NODE_IDS.map((v) => `${v}@${HOST}:${controllerPort(v)}`).join(',');
  return `# Written by scripts/stack/kafka-cluster.ts; node ${id} of 3, broker and controller in one process.
process.roles=broker,controller
node.id=${id}
controller.quorum.voters=${voters}
listeners=PLAINTEXT://${HOST}:${brokerPort(id)},CONTROLLER://${HOST}:${controllerPort(id)}
advertised.listeners=PLAINTEXT://${HOST}:${brokerPort(id)}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${join(nodeDir(id), 'data')}
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=3
# The group's offsets and the idempotent producers' state survive the loss of one node.
offsets.topic.replication.factor=3
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
# Never elect a replica that missed acknowledged writes.
unclean.leader.election.enable=false
# A killed node is fenced after 6 s without heartbeats (default 9 s) and its partitions move on.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=6000
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.replica.fetchers=1
log.segment.bytes=268435456
`;
}

/** The pid of node `id` if this stack started it and it still runs (pid file and command line). */
export function kafkaNodePid(id: number): number | null {
  return startedPid(join(nodeDir(id), 'kafka.pid'), (args) => args.includes(stackMarker(name(id))));
}

/** Writes each node's properties and formats the storage of all three with one cluster id (first run). */
function prepare(print: Print): void {
  for (const id of KAFKA_NODE_IDS) {
    mkdirSync(nodeDir(id), { recursive: true });
    writeFileSync(join(nodeDir(id), 'server.properties'), properties(id));
  }
  if (KAFKA_NODE_IDS.every((id) => existsSync(join(nodeDir(id), 'data', 'meta.properties')))) return;
  print('kafka-cluster: formatting storage of 3 nodes (first run only)...');
  const clusterId = newClusterId();
  for (const id of KAFKA_NODE_IDS) {
    rmSync(join(nodeDir(id), 'data'), { recursive: true, force: true });
    // Static quorum (controller.quorum.voters): no --standalone / --initial-controllers.
    formatKafkaStorage(clusterId, join(nodeDir(id), 'server.properties'), [], `node ${id}`);
  }
}

/** Starts node `id` in the background unless this stack already runs it. */
export function startKafkaNode(id: number, print: Print = () => {}): void {
  if (kafkaNodePid(id) !== null) return;
  // Three brokers share 2 cores and the other services: small heaps, the serial collector, and the
  // client compiler only (C1): a start costs about 30% less CPU (5.7 s instead of 8.3 s here) and an
  // idle node too, at a peak throughput this profile, made for failover rather than for benchmarks,
  // does not need.
  const jvm = ['-Xms128m', '-Xmx512m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-XX:ActiveProcessorCount=2'];
  const dir = nodeDir(id);
  const files = { cwd: dir, logFile: join(dir, 'kafka.log'), pidFile: join(dir, 'kafka.pid') };
  const pid = startDetached('java', kafkaJavaArgs(name(id), jvm, join(dir, 'server.properties')), files);
  print(`kafka-cluster: node ${id} started (pid ${pid}, ${HOST}:${brokerPort(id)})`);
}

/**
 * The brokers the cluster's metadata lists as alive, asked of each node in turn until one answers. (One
 * client given all three addresses dials the first one first and, without retries, gives up when that
 * node is down: with node 1 down every node looked down.)
 */
export async function liveBrokers(): Promise<number[]> {
  for (const address of kafkaClusterBrokers().split(',')) {
    const seen = await brokersSeenBy(address);
    if (seen !== null) return seen;
  }
  return [];
}

/**
 * Node `id` answers on its own address and is alive in the metadata it serves. (The other nodes list a
 * starting node as alive a few seconds before its listener takes connections.)
 */
export async function nodeAnswers(id: number): Promise<boolean> {
  return ((await brokersSeenBy(`${HOST}:${brokerPort(id)}`)) ?? []).includes(id);
}

async function every<T>(items: readonly T[], check: (item: T) => Promise<boolean>): Promise<boolean> {
  for (const item of items) if (!(await check(item))) return false;
  return true;
}

export async function waitForBrokers(count: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await liveBrokers()).length >= count && (count < KAFKA_NODE_IDS.length || (await every(KAFKA_NODE_IDS, nodeAnswers)))) return;
    if (KAFKA_NODE_IDS.some((id) => existsSync(join(nodeDir(id), 'kafka.pid')) && kafkaNodePid(id) === null && count === KAFKA_NODE_IDS.length)) {
      const dead = KAFKA_NODE_IDS.find((id) => kafkaNodePid(id) === null)!;
      throw new RedemptionError('STACK_FAILED', `kafka-cluster node ${dead} exited${logTail(join(nodeDir(dead), 'kafka.log'))}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new RedemptionError('STACK_FAILED', `kafka-cluster: ${count} brokers did not answer within ${timeoutMs / 1000} s`);
}

export async function kafkaClusterUp(print: Print = console.log): Promise<void> {
  installKafkaJars(print);
  prepare(print);
  for (const id of KAFKA_NODE_IDS) startKafkaNode(id, print);
  await waitForBrokers(KAFKA_NODE_IDS.length);
  print(`kafka-cluster: 3 brokers up (KAFKA_BROKERS=${kafkaClusterBrokers()})`);
}

/** SIGTERM (a controlled shutdown: leadership moves first) and wait for the process to end. */
export async function stopKafkaNode(id: number, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<boolean> {
  const pid = kafkaNodePid(id);
  if (pid === null) return false;
  await stopProcess(pid, () => kafkaNodePid(id) !== null, 60_000, signal);
  return true;
}

/**
 * Stops the three nodes at once. One after another, the last one lost its controller quorum with the
 * second and waited about a minute before it ended (61 s in all here, against 6 s at once).
 */
export async function kafkaClusterDown(print: Print = console.log): Promise<void> {
  await Promise.all(
    KAFKA_NODE_IDS.map(async (id) => {
      if (await stopKafkaNode(id)) print(`kafka-cluster: node ${id} stopped`);
    }),
  );
}

export interface KafkaNodeStatus {
  id: number;
  address: string;
  pid: number | null;
  alive: boolean;
}

export async function kafkaClusterStatus(): Promise<KafkaNodeStatus[]> {
  const alive = await liveBrokers();
  return KAFKA_NODE_IDS.map((id) => ({ id, address: `${HOST}:${brokerPort(id)}`, pid: kafkaNodePid(id), alive: alive.includes(id) }));
}

export function kafkaClusterStarted(): boolean {
  return KAFKA_NODE_IDS.some((id) => kafkaNodePid(id) !== null);
}
