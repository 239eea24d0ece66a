/**
 * The local stack: Apache Kafka (KRaft, one node) and Apicurio Registry, both run from jars fetched from
 * Maven Central into a git-ignored folder and started in the background with pid files; plus the
 * machine's own Redis and MariaDB, which are only checked (and started if installed but down); and, with
 * `--secure`, a secured broker. Everything listens on 127.0.0.1. `down` stops only the processes `up`
 * started. Each service is a module of its own (kafka.ts, registry.ts, kafka-secure.ts,
 * machine-services.ts; the cluster profile's nodes in kafka-cluster.ts and redis-cluster.ts), on the
 * helpers of service.ts. The first `up` also records the class-data archive every broker start maps
 * (kafka-class-archive.ts).
 */
import { tcpAnswers } from '../../lib/net.js';
import { kafka, kafkaAnswersMetadata } from './kafka.js';
import { ensureKafkaClassArchive } from './kafka-class-archive.js';
import { checkSecurePorts, kafkaSecure, provisionSecureKafka, SECURE_KAFKA } from './kafka-secure.js';
import { ensureMachineService, MACHINE_SERVICES } from './machine-services.js';
import { registry, registryAnswers } from './registry.js';
import { ADDRESSES, type ManagedService, type Print, runningPid, startManaged, stopManaged } from './service.js';

export { SECURE_KAFKA } from './kafka-secure.js';
export { bounceRedis } from './machine-services.js';
export { ADDRESSES } from './service.js';

export type Component = keyof typeof ADDRESSES;

const MANAGED: readonly ManagedService[] = [kafka, registry];

export async function stackUp(print: Print = console.log, o: { secure?: boolean } = {}): Promise<void> {
  for (const service of MACHINE_SERVICES) await ensureMachineService(service, print);
  // Before the broker's first start, which maps it too.
  await ensureKafkaClassArchive(print);
  for (const service of MANAGED) await startManaged(service, print);
  if (o.secure) {
    checkSecurePorts();
    await startManaged(kafkaSecure, print);
    await provisionSecureKafka(print);
    print(
      `kafka-secure: SASL_SSL on ${SECURE_KAFKA.host}:${SECURE_KAFKA.port}, SASL_PLAINTEXT on ${SECURE_KAFKA.saslPlaintextPort}; client settings of each identity in ${SECURE_KAFKA.clientEnv('<identity>')} (${[SECURE_KAFKA.admin, ...SECURE_KAFKA.identities].join(', ')})`,
    );
  }
}

export async function stackDown(print: Print = console.log): Promise<void> {
  // The secured broker only if this checkout's `up --secure` started it; otherwise not even mentioned.
  if (runningPid(kafkaSecure) !== null) await stopManaged(kafkaSecure, print);
  for (const service of [...MANAGED].reverse()) await stopManaged(service, print);
}

/**
 * Restarts one managed service (the chaos run restarts the broker this way). Returns false, touching
 * nothing, when the running service was not started by this checkout's `stack up`.
 */
export async function stackRestart(name: 'kafka' | 'registry', print: Print = console.log): Promise<boolean> {
  const service = MANAGED.find((s) => s.name === name)!;
  if (runningPid(service) === null) {
    print(`${name}: not started by this checkout's stack; not restarting it`);
    return false;
  }
  await stopManaged(service, print);
  await startManaged(service, print);
  return true;
}

export interface ComponentStatus {
  component: Component;
  address: string;
  up: boolean;
  managed: string;
}

export async function stackStatus(): Promise<ComponentStatus[]> {
  const probes: Record<Component, () => Promise<boolean>> = {
    kafka: kafkaAnswersMetadata,
    registry: registryAnswers,
    redis: () => tcpAnswers(ADDRESSES.redis.host, ADDRESSES.redis.port),
    mysql: () => tcpAnswers(ADDRESSES.mysql.host, ADDRESSES.mysql.port),
  };
  return Promise.all(
    (Object.keys(ADDRESSES) as Component[]).map(async (component) => {
      const managedService = MANAGED.find((s) => s.name === component);
      const pid = managedService ? runningPid(managedService) : null;
      return {
        component,
        address: `${ADDRESSES[component].host}:${ADDRESSES[component].port}`,
        up: await probes[component](),
        managed: managedService ? (pid ? `started by stack (pid ${pid})` : 'not started by stack') : 'machine service',
      };
    }),
  );
}
