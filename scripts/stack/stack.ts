import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RedemptionError } from '../../lib/errors.js';
import { verifyArtifacts } from './artifacts.js';

/**
 * The local stack: Apache Kafka (KRaft, one node) and Apicurio Registry, both run from jars fetched from
 * Maven Central into a git-ignored folder and started in the background with pid files; plus the
 * machine's own Redis and MariaDB, which are only checked (and started if installed but down).
 * Everything listens on 127.0.0.1. `down` stops only the processes `up` started.
 */

const SCRIPT_DIR = dirname(fileURLToPath(import.meta.url));
const PROJECT_DIR = join(SCRIPT_DIR, '..', '..');
const STACK_DIR = process.env.STACK_DIR ?? join(PROJECT_DIR, '.stack');

export const ADDRESSES = {
  kafka: { host: '127.0.0.1', port: 9092 },
  registry: { host: '127.0.0.1', port: 8081 },
  redis: { host: '127.0.0.1', port: 6379 },
  mysql: { host: '127.0.0.1', port: 3306 },
} as const;

export type Component = keyof typeof ADDRESSES;
type Print = (line: string) => void;

interface ManagedService {
  name: 'kafka' | 'registry';
  dir: string;
  install(print: Print): void;
  command(): { args: string[]; marker: string };
  ready(): Promise<boolean>;
  prepare?(print: Print): void;
}

/**
 * Apicurio Registry 3.0.x is the newest line that runs on Java 17 (3.1 and later are built for Java 21);
 * Maven Central serves its runnable distribution as a tar.gz with the classifier "all".
 */
const APICURIO_ARTIFACT = 'io.apicurio:apicurio-registry-app:3.0.9:tar.gz:all';

const kafkaDir = join(STACK_DIR, 'kafka');
const registryDir = join(STACK_DIR, 'registry');

function mvn(args: string[], what: string, print: Print): void {
  print(`fetching ${what} from Maven Central (first run only)...`);
  // A working directory of our own: run elsewhere, Maven plugins write `${project.basedir}/...` markers
  // into whatever directory the command was started from. No colour codes in our output either.
  mkdirSync(STACK_DIR, { recursive: true });
  // -C (--strict-checksums): a download whose .sha1/.md5 does not match fails, instead of Maven's
  // default of warning and using it. The pinned SHA-256 digests are checked on top (artifacts.ts).
  const result = spawnSync('mvn', ['-q', '-B', '-C', '-Dstyle.color=never', ...args], { stdio: ['ignore', 'inherit', 'inherit'], cwd: STACK_DIR });
  if (result.error) throw new RedemptionError('STACK_FAILED', `cannot run mvn (install Maven and Java 17): ${result.error.message}`);
  if (result.status !== 0) throw new RedemptionError('STACK_FAILED', `mvn failed fetching ${what} (exit ${result.status})`);
}

const kafka: ManagedService = {
  name: 'kafka',
  dir: kafkaDir,
  install(print) {
    const libs = join(kafkaDir, 'libs');
    if (existsSync(join(libs, '.complete'))) return;
    rmSync(libs, { recursive: true, force: true });
    mvn(['-f', join(SCRIPT_DIR, 'kafka-pom.xml'), 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${libs}`], 'Apache Kafka', print);
    verifyArtifacts('kafka', libs);
    print('Apache Kafka: every jar matches its pinned SHA-256');
    writeFileSync(join(libs, '.complete'), '');
  },
  prepare(print) {
    // Checked again at every start, not only after the download: the jars are what runs as the broker.
    verifyArtifacts('kafka', join(kafkaDir, 'libs'));
    const data = join(kafkaDir, 'data');
    const properties = join(kafkaDir, 'server.properties');
    writeFileSync(properties, readFileSync(join(SCRIPT_DIR, 'server.properties.template'), 'utf8').replaceAll('@DATA_DIR@', data));
    if (existsSync(join(data, 'meta.properties'))) return;
    print('formatting Kafka storage (first run only)...');
    mkdirSync(data, { recursive: true });
    const classpath = `${join(kafkaDir, 'libs')}/*`;
    const uuid = spawnSync('java', ['-cp', classpath, 'kafka.tools.StorageTool', 'random-uuid'], { encoding: 'utf8' });
    const clusterId = uuid.stdout.trim().split('\n').pop() ?? '';
    if (uuid.status !== 0 || !/^[A-Za-z0-9_-]{22}$/.test(clusterId)) {
      throw new RedemptionError('STACK_FAILED', `kafka-storage random-uuid failed: ${uuid.stderr || uuid.stdout}`);
    }
    const format = spawnSync('java', ['-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', properties, '--standalone'], { encoding: 'utf8' });
    if (format.status !== 0) throw new RedemptionError('STACK_FAILED', `formatting Kafka storage failed: ${format.stderr || format.stdout}`);
  },
  command() {
    return {
      marker: '-Dredemption.stack=kafka',
      args: [
        '-Dredemption.stack=kafka',
        '-Xms256m',
        '-Xmx1g',
        '-XX:+UseG1GC',
        '-XX:MaxGCPauseMillis=20',
        '-Djava.awt.headless=true',
        `-Dlog4j2.configurationFile=${join(SCRIPT_DIR, 'kafka-log4j2.yaml')}`,
        '-cp',
        `${join(kafkaDir, 'libs')}/*`,
        'kafka.Kafka',
        join(kafkaDir, 'server.properties'),
      ],
    };
  },
  ready: () => kafkaAnswersMetadata(),
};

const registry: ManagedService = {
  name: 'registry',
  dir: registryDir,
  install(print) {
    const app = join(registryDir, 'app');
    if (existsSync(join(app, '.complete'))) return;
    rmSync(app, { recursive: true, force: true });
    // dependency:copy takes the artifact alone (Central does not serve the parent POM its descriptor
    // names); tar unpacks it, since the plugin's unpack goal skips archives it believes it has seen.
    const download = join(registryDir, 'download');
    mvn(['dependency:copy', `-Dartifact=${APICURIO_ARTIFACT}`, `-DoutputDirectory=${download}`, '-Dmdep.overWriteReleases=true'], 'Apicurio Registry', print);
    const archive = readdirSync(download).find((f) => f.endsWith('.tar.gz'));
    if (!archive) throw new RedemptionError('STACK_FAILED', `no Apicurio archive in ${download} after mvn dependency:copy`);
    // Before tar reads a byte of it.
    verifyArtifacts('registry', download);
    print('Apicurio Registry: the archive matches its pinned SHA-256');
    mkdirSync(app, { recursive: true });
    const untar = spawnSync('tar', ['-xzf', join(download, archive), '-C', app], { stdio: 'inherit' });
    if (untar.status !== 0) throw new RedemptionError('STACK_FAILED', `unpacking ${archive} failed (exit ${untar.status})`);
    rmSync(download, { recursive: true, force: true });
    writeFileSync(join(app, '.complete'), '');
  },
  command() {
    const runner = readdirSync(join(registryDir, 'app')).find((f) => f.endsWith('-runner.jar'));
    if (!runner) throw new RedemptionError('STACK_FAILED', `no *-runner.jar in ${join(registryDir, 'app')}; remove the folder and run again`);
    return {
      marker: '-Dredemption.stack=registry',
      args: [
        '-Dredemption.stack=registry',
        '-Xms128m',
        '-Xmx512m',
        `-Dquarkus.http.host=${ADDRESSES.registry.host}`,
        `-Dquarkus.http.port=${ADDRESSES.registry.port}`,
        // Schemas survive a restart: ids written into Kafka messages must keep meaning the same schema.
        `-Dapicurio.datasource.url=jdbc:h2:file:${join(registryDir, 'db', 'registry')};DB_CLOSE_ON_EXIT=FALSE`,
        '-Dquarkus.log.level=WARN',
        '-Dquarkus.log.category."io.quarkus".level=INFO',
        '-jar',
        join(registryDir, 'app', runner),
      ],
    };
  },
  ready: () => registryAnswers(),
};

const MANAGED: readonly ManagedService[] = [kafka, registry];

function pidFile(service: ManagedService): string {
  return join(service.dir, `${service.name}.pid`);
}

/** The pid of a process this script started and that still runs, checked against its command line. */
function runningPid(service: ManagedService): number | null {
  const file = pidFile(service);
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').trim());
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(`-Dredemption.stack=${service.name}`) ? pid : null;
  } catch {
    return null;
  }
}

function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function kafkaAnswersMetadata(): Promise<boolean> {
  if (!(await portOpen(ADDRESSES.kafka.host, ADDRESSES.kafka.port))) return false;
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({
    brokers: [`${ADDRESSES.kafka.host}:${ADDRESSES.kafka.port}`],
    clientId: 'redeem-stack',
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 2000,
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function registryAnswers(): Promise<boolean> {
  try {
    const response = await fetch(`http://${ADDRESSES.registry.host}:${ADDRESSES.registry.port}/apis/ccompat/v7/subjects`, { signal: AbortSignal.timeout(2000) });
    return response.ok;
  } catch {
    return false;
  }
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, logFile?: string, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  while (Date.now() < deadline) {
    if (await probe()) return;
    if (!alive()) {
      exited = true;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const tail = logFile && existsSync(logFile) ? `\nlast lines of ${logFile}:\n${readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n')}` : '';
  throw new RedemptionError('STACK_FAILED', `${what} ${exited ? 'exited before it answered' : `did not answer within ${timeoutMs / 1000} s`}${tail}`);
}

async function startManaged(service: ManagedService, print: Print): Promise<void> {
  const address = ADDRESSES[service.name];
  if (await service.ready()) {
    print(`${service.name}: already up on ${address.host}:${address.port}`);
    return;
  }
  if (runningPid(service) === null && (await portOpen(address.host, address.port))) {
    throw new RedemptionError('STACK_FAILED', `${service.name}: port ${address.port} is taken by a process that does not answer as ${service.name}`);
  }
  mkdirSync(service.dir, { recursive: true });
  service.install(print);
  const logFile = join(service.dir, `${service.name}.log`);
  if (runningPid(service) === null) {
    service.prepare?.(print);
    const { args } = service.command();
    const log = openSync(logFile, 'a');
    const child = spawn('java', args, { detached: true, stdio: ['ignore', log, log], cwd: service.dir });
    closeSync(log);
    child.unref();
    writeFileSync(pidFile(service), String(child.pid));
    print(`${service.name}: started (pid ${child.pid}, log ${logFile})`);
  }
  await waitFor(`${service.name} on ${address.host}:${address.port}`, service.ready, 120_000, logFile, () => runningPid(service) !== null);
  print(`${service.name}: up on ${address.host}:${address.port}`);
}

async function stopManaged(service: ManagedService, print: Print): Promise<void> {
  const pid = runningPid(service);
  if (pid === null) {
    print(`${service.name}: not started by this script; left alone`);
    rmSync(pidFile(service), { force: true });
    return;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && runningPid(service) !== null) await new Promise((resolve) => setTimeout(resolve, 250));
  if (runningPid(service) !== null) process.kill(pid, 'SIGKILL');
  rmSync(pidFile(service), { force: true });
  print(`${service.name}: stopped (pid ${pid})`);
}

interface LocalService {
  name: 'redis' | 'mysql';
  binary: string;
  start: string[];
  install: string;
}

const LOCAL: readonly LocalService[] = [
  {
    name: 'redis',
    binary: 'redis-server',
    start: ['redis-server', '--daemonize', 'yes', '--bind', '127.0.0.1', '--port', '6379', '--save', '', '--appendonly', 'no'],
    install: 'apt-get install redis-server',
  },
  {
    name: 'mysql',
    binary: 'mariadbd',
    start: ['start-stop-daemon', '--start', '--oknodo', '--background', '--exec', '/usr/sbin/mariadbd'],
    install: 'apt-get install mariadb-server',
  },
];

function installed(binary: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${binary} || test -x /usr/sbin/${binary}`]).status === 0;
}

async function ensureLocal(service: LocalService, print: Print): Promise<void> {
  const { host, port } = ADDRESSES[service.name];
  if (await portOpen(host, port)) {
    print(`${service.name}: up on ${host}:${port}`);
    return;
  }
  if (!installed(service.binary)) {
    throw new RedemptionError('STACK_FAILED', `${service.name} does not answer on ${host}:${port} and ${service.binary} is not installed: ${service.install}`);
  }
  print(`${service.name}: not answering; starting the installed ${service.binary}`);
  const [command, ...args] = service.start as [string, ...string[]];
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.status !== 0) throw new RedemptionError('STACK_FAILED', `starting ${service.name} failed (exit ${result.status})`);
  await waitFor(`${service.name} on ${host}:${port}`, () => portOpen(host, port), 60_000);
  print(`${service.name}: up on ${host}:${port}`);
}

/**
 * Stops the machine's Redis (SHUTDOWN NOSAVE) and, after `downMs`, starts it again as `stack up` would:
 * the chaos run and the outage tests use this to take Redis away and give it back.
 */
export async function bounceRedis(downMs: number, print: Print = () => {}): Promise<void> {
  const { host, port } = ADDRESSES.redis;
  spawnSync('redis-cli', ['-h', host, '-p', String(port), 'shutdown', 'nosave']);
  await waitFor('Redis to stop', async () => !(await portOpen(host, port)), 10_000);
  print('redis: stopped');
  await new Promise((resolve) => setTimeout(resolve, downMs));
  await ensureLocal(LOCAL.find((s) => s.name === 'redis')!, print);
}

export async function stackUp(print: Print = console.log): Promise<void> {
  for (const service of LOCAL) await ensureLocal(service, print);
  for (const service of MANAGED) await startManaged(service, print);
}

export async function stackDown(print: Print = console.log): Promise<void> {
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
    redis: () => portOpen(ADDRESSES.redis.host, ADDRESSES.redis.port),
    mysql: () => portOpen(ADDRESSES.mysql.host, ADDRESSES.mysql.port),
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
