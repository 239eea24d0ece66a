/**
 * The single-node Kafka of the local stack: Apache Kafka 4.1.1 in KRaft mode (broker and controller in
 * one process) on 127.0.0.1:9092 (controller 9093), run from jars fetched from Maven Central into
 * .stack/kafka/libs and checked against pinned digests at every start; storage formatted once. The jars,
 * the storage formatting and the java command line serve the secured broker and the cluster nodes too.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

import { RedemptionError } from '../../lib/errors.js';
import { tcpAnswers } from '../../lib/net.js';
import { verifyArtifacts } from './artifacts.js';
import { mvn } from './maven.js';
import { ADDRESSES, type ManagedService, type Print, SCRIPT_DIR, STACK_DIR, stackMarker } from './service.js';

const kafkaDir = join(STACK_DIR, 'kafka');
/** The Kafka jars every broker of the stack runs (`KAFKA_LIBS_DIR` moves them). */
export const KAFKA_LIBS = process.env.KAFKA_LIBS_DIR ?? join(kafkaDir, 'libs');

/**
 * Fetches the Kafka jars once and checks them against their pinned digests. Into a folder of this
 * process's own, then renamed into place: two processes of one checkout may install at once (the
 * cluster profile and a test's own broker), and neither may remove or run what the other is writing.
 */
export function installKafkaJars(print: Print): void {
  if (existsSync(join(KAFKA_LIBS, '.complete'))) return;
  const fetching = `${KAFKA_LIBS}.fetching-${process.pid}`;
  rmSync(fetching, { recursive: true, force: true });
  try {
    mvn(
      ['-f', join(SCRIPT_DIR, 'kafka-pom.xml'), 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${fetching}`],
      'Apache Kafka',
      print,
    );
    verifyArtifacts('kafka', fetching);
    print('Apache Kafka: every jar matches its pinned SHA-256');
    writeFileSync(join(fetching, '.complete'), '');
    try {
      renameSync(fetching, KAFKA_LIBS);
    } catch {
      // Another process's install finished first (its folder is complete and may be running), or an
      // interrupted install of an earlier version left a folder without .complete: replaced.
      if (existsSync(join(KAFKA_LIBS, '.complete'))) return;
      rmSync(KAFKA_LIBS, { recursive: true, force: true });
      renameSync(fetching, KAFKA_LIBS);
    }
  } finally {
    rmSync(fetching, { recursive: true, force: true });
  }
}

/**
 * Runs Kafka's storage tool with its arguments in a java argument file (`java @file`), owner-only and
 * removed afterwards: formatting the secured broker names every SCRAM user with its password, and a
 * command line is readable by every local user (ps, /proc/<pid>/cmdline).
 */
function storageTool(args: string[]): { ok: boolean; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'redeem-storage-tool-'));
  const argFile = join(dir, 'args');
  try {
    // The main class goes in the file too: the launcher expands (and unquotes) an argument file only
    // before the main class; after it, the tool would take the quotes literally.
    writeFileSync(argFile, `${['kafka.tools.StorageTool', ...args].map(javaArgFileQuote).join('\n')}\n`, { mode: 0o600 });
    // A run of a second or two: the client compiler only and the serial collector take about 45% less
    // CPU than the JVM's defaults (1.5 s instead of 2.7 s here), and the suite formats up to 8 storages.
    const jvm = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', ...classArchiveArgs()];
    const result = spawnSync('java', [...jvm, '-cp', `${KAFKA_LIBS}/*`, `@${argFile}`], { encoding: 'utf8' });
    return { ok: result.status === 0, out: result.stderr || result.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One argument of a java argument file: in double quotes, in which a backslash escapes. */
export function javaArgFileQuote(arg: string): string {
  return `"${arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/**
 * A new KRaft cluster id, as `kafka-storage random-uuid` makes one (16 random bytes in unpadded
 * base64url, never starting with '-', which the tool's command line would read as an option), without
 * starting a JVM for it.
 */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** Formats a node's storage (`extra`: --standalone, --add-scram ...); `what` names it in an error. */
export function formatKafkaStorage(clusterId: string, properties: string, extra: string[], what: string): void {
  const { ok, out } = storageTool(['format', '-t', clusterId, '-c', properties, ...extra]);
  if (!ok) throw new RedemptionError('STACK_FAILED', `formatting ${what} failed: ${out}`);
}

/**
 * Where the Kafka class-data archive of this JDK and these jars is (kafka-class-archive.ts writes it), or
 * null when no `java` is on the PATH. Named by the JDK's and the jars' identity: a JVM refuses an archive
 * of another JDK build or of other jars, so a changed JDK or a reinstall gets an archive of its own.
 */
export function kafkaClassArchive(): string | null {
  const java = (process.env.PATH ?? '')
    .split(delimiter)
    .map((dir) => join(dir, 'java'))
    .find((file) => existsSync(file));
  if (!java) return null;
  const identity = (file: string) => {
    const s = statSync(file);
    return `${file} ${s.size} ${s.mtimeMs}`;
  };
  const launcher = realpathSync(java);
  const vm = join(dirname(dirname(launcher)), 'lib', 'server', 'libjvm.so');
  const jars = join(KAFKA_LIBS, '.complete');
  const key = createHash('sha256')
    .update(identity(launcher))
    .update(existsSync(vm) ? identity(vm) : 'no libjvm')
    .update(existsSync(jars) ? identity(jars) : 'no jars')
    .digest('hex')
    .slice(0, 16);
  return `${KAFKA_LIBS}.classes-${key}.jsa`;
}

/**
 * The JVM option that loads Kafka's classes from the archive, when there is one: a broker's start then
 * costs about 40% less CPU (measured here, a quiet host: 2.2-2.6 s instead of 3.5-4.5 s) and answers about a
 * second sooner. The archive is only ever in place whole and checked (kafka-class-archive.ts): a JVM
 * mapping a damaged one crashes.
 */
export function classArchiveArgs(): string[] {
  const archive = kafkaClassArchive();
  return archive !== null && existsSync(archive) ? [`-XX:SharedArchiveFile=${archive}`] : [];
}

/**
 * The java arguments of a broker of the stack: its marker, heap and GC settings, the class-data archive
 * (unless `jvm` records one), then kafka.Kafka.
 */
export function kafkaJavaArgs(name: string, jvm: string[], properties: string): string[] {
  const recording = jvm.some((arg) => arg.startsWith('-XX:ArchiveClassesAtExit='));
  return [
    stackMarker(name),
    ...jvm,
    ...(recording ? [] : classArchiveArgs()),
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${join(SCRIPT_DIR, 'kafka-log4j2.yaml')}`,
    '-cp',
    `${KAFKA_LIBS}/*`,
    'kafka.Kafka',
    properties,
  ];
}

/** The node ids the broker at `address` lists as alive, or null if it does not answer (one try). */
export async function brokersSeenBy(address: string): Promise<number[] | null> {
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({ brokers: [address], clientId: 'redeem-stack', logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 2000 }).admin();
  try {
    await admin.connect();
    return (await admin.describeCluster()).brokers.map((b) => b.nodeId).sort();
  } catch {
    return null;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export async function kafkaAnswersMetadata(): Promise<boolean> {
  if (!(await tcpAnswers(ADDRESSES.kafka.host, ADDRESSES.kafka.port))) return false;
  return ((await brokersSeenBy(`${ADDRESSES.kafka.host}:${ADDRESSES.kafka.port}`)) ?? []).length > 0;
}

export const kafka: ManagedService = {
  name: 'kafka',
  dir: kafkaDir,
  address: ADDRESSES.kafka,
  install: installKafkaJars,
  prepare(print) {
    // Checked again at every start, not only after the download: the jars are what runs as the broker.
    verifyArtifacts('kafka', KAFKA_LIBS);
    const data = join(kafkaDir, 'data');
    const properties = join(kafkaDir, 'server.properties');
    writeFileSync(properties, readFileSync(join(SCRIPT_DIR, 'server.properties.template'), 'utf8').replaceAll('@DATA_DIR@', data));
    if (existsSync(join(data, 'meta.properties'))) return;
    print('formatting Kafka storage (first run only)...');
    mkdirSync(data, { recursive: true });
    formatKafkaStorage(newClusterId(), properties, ['--standalone'], 'Kafka storage');
  },
  command: () => ({
    args: kafkaJavaArgs('kafka', ['-Xms256m', '-Xmx1g', '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20'], join(kafkaDir, 'server.properties')),
  }),
  ready: () => kafkaAnswersMetadata(),
};
