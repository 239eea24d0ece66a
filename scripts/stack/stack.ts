import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { RedemptionError } from '../../lib/errors.js';
import { tcpAnswers } from '../../lib/net.js';
import { CHECKOUT_DIR, STACK_ASSETS_DIR } from '../checkout-dir.js';
import { verifyArtifacts } from './artifacts.js';
import { issueCertificate, makeCertificateAuthority, openssl } from './certificates.js';
import { brokersSeenBy } from './kafka-cluster.js';

/**
 * The local stack: Apache Kafka (KRaft, one node) and Apicurio Registry, both run from jars fetched from
 * Maven Central into a git-ignored folder and started in the background with pid files; plus the
 * machine's own Redis and MariaDB, which are only checked (and started if installed but down).
 * Everything listens on 127.0.0.1. `down` stops only the processes `up` started.
 */

const SCRIPT_DIR = STACK_ASSETS_DIR;
const PROJECT_DIR = CHECKOUT_DIR;
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
  name: 'kafka' | 'registry' | 'kafka-secure';
  dir: string;
  address: { host: string; port: number };
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
  const result = spawnSync('mvn', ['-q', '-B', '-C', '-Dstyle.color=never', ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: STACK_DIR, encoding: 'utf8' });
  if (result.error) throw new RedemptionError('STACK_FAILED', `cannot run mvn (install Maven and Java 17): ${result.error.message}`);
  // Maven 3.8 writes ANSI resets even in batch mode with colour off: what it says is passed on without them.
  const said = `${result.stdout ?? ''}${result.stderr ?? ''}`.replace(/\x1b\[[0-9;]*m/g, '').trim();
  if (said !== '') print(said);
  if (result.status !== 0) throw new RedemptionError('STACK_FAILED', `mvn failed fetching ${what} (exit ${result.status})`);
}

const kafka: ManagedService = {
  name: 'kafka',
  dir: kafkaDir,
  address: ADDRESSES.kafka,
  install(print) {
    const libs = join(kafkaDir, 'libs');
    if (existsSync(join(libs, '.complete'))) return;
    rmSync(libs, { recursive: true, force: true });
    mvn(
      ['-f', join(SCRIPT_DIR, 'kafka-pom.xml'), 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${libs}`],
      'Apache Kafka',
      print,
    );
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
    const format = spawnSync('java', ['-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', properties, '--standalone'], {
      encoding: 'utf8',
    });
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
  address: ADDRESSES.registry,
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

/**
 * `stack up --secure`: a second, secured broker beside the plaintext one, for trying and testing the
 * pipeline's TLS and SASL settings. Its client listeners both authenticate (SCRAM-SHA-512 and PLAIN):
 * SASL_SSL, with a broker certificate signed by a CA made here and client certificates required, and
 * SASL_PLAINTEXT; passwords are
 * generated at its first start. Its ports (STACK_SECURE_KAFKA_PORT, default 9094,
 * STACK_SECURE_CONTROLLER_PORT, 9095, STACK_SECURE_SASL_PLAINTEXT_PORT, 9096) and folder are its own,
 * so it never touches the plaintext broker. `.stack/kafka-secure/client.env` holds the settings a client
 * needs (the password itself is in a file it names, readable by its owner only).
 */
const secureDir = join(STACK_DIR, 'kafka-secure');
const tlsDir = join(secureDir, 'tls');
export const SECURE_KAFKA = {
  host: '127.0.0.1',
  port: Number(process.env.STACK_SECURE_KAFKA_PORT ?? 9094),
  controllerPort: Number(process.env.STACK_SECURE_CONTROLLER_PORT ?? 9095),
  /** SASL without TLS (SASL_PLAINTEXT), for trying KAFKA_SASL_* with KAFKA_SSL=false. */
  saslPlaintextPort: Number(process.env.STACK_SECURE_SASL_PLAINTEXT_PORT ?? 9096),
  /** The SCRAM and PLAIN user the pipeline logs in as. */
  user: 'pipeline',
  clientEnv: join(secureDir, 'client.env'),
};

/** A password made of letters and digits only: it goes into a JAAS line and a properties file unquoted. */
function newPassword(): string {
  return randomBytes(18)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 20)
    .padEnd(20, 'x');
}

/** A secret of the secured stack: made once, kept in a file only its owner can read. */
function stackSecret(name: string): string {
  const file = join(secureDir, `${name}.password`);
  if (!existsSync(file)) writeFileSync(file, `${newPassword()}\n`, { mode: 0o600, flag: 'wx' });
  return readFileSync(file, 'utf8').trim();
}

/**
 * A CA, a broker certificate for 127.0.0.1 signed by it in a PKCS12 keystore, and a client certificate
 * for the pipeline (the SASL_SSL listener requires one: TLS client authentication on top of SASL), all
 * made with openssl. The CA's key stays (owner only) so that more client certificates can be issued.
 */
function makeCertificates(keystorePassword: string, print: Print): void {
  const at = (f: string) => join(tlsDir, f);
  if (!existsSync(at('broker.p12'))) {
    print('kafka-secure: making a CA and a broker certificate (first run only)...');
    mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
    makeCertificateAuthority(tlsDir, { subject: 'redeem local stack CA', days: 825 });
    issueCertificate(tlsDir, { name: 'broker', subject: '127.0.0.1', days: 825, subjectAltName: 'IP:127.0.0.1,DNS:localhost' });
    openssl(
      [
        'pkcs12',
        '-export',
        '-in',
        at('broker.pem'),
        '-inkey',
        at('broker.key'),
        '-certfile',
        at('ca.pem'),
        '-out',
        at('broker.p12'),
        '-passout',
        `pass:${keystorePassword}`,
      ],
      'making the broker keystore',
    );
    rmSync(at('broker.key'), { force: true });
  }
  if (!existsSync(at('client.pem')) && existsSync(at('ca.key'))) {
    issueCertificate(tlsDir, { name: 'client', subject: SECURE_KAFKA.user, days: 825 });
  }
}

async function secureKafkaAnswers(): Promise<boolean> {
  if (!existsSync(SECURE_KAFKA.clientEnv) || !(await tcpAnswers(SECURE_KAFKA.host, SECURE_KAFKA.port))) return false;
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({
    brokers: [`${SECURE_KAFKA.host}:${SECURE_KAFKA.port}`],
    clientId: 'redeem-stack',
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 3000,
    ssl: {
      ca: [readFileSync(join(tlsDir, 'ca.pem'), 'utf8')],
      cert: readFileSync(join(tlsDir, 'client.pem'), 'utf8'),
      key: readFileSync(join(tlsDir, 'client.key'), 'utf8'),
      rejectUnauthorized: true,
    },
    sasl: { mechanism: 'scram-sha-512', username: SECURE_KAFKA.user, password: stackSecret(SECURE_KAFKA.user) },
  }).admin();
  try {
    await admin.connect();
    return (await admin.describeCluster()).brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

const kafkaSecure: ManagedService = {
  name: 'kafka-secure',
  dir: secureDir,
  address: { host: SECURE_KAFKA.host, port: SECURE_KAFKA.port },
  install(print) {
    // The same jars as the plaintext broker (checked against their pins in prepare).
    kafka.install(print);
  },
  prepare(print) {
    verifyArtifacts('kafka', join(kafkaDir, 'libs'));
    mkdirSync(secureDir, { recursive: true });
    // Passwords, keys and the broker's properties are in here: its owner only.
    chmodSync(secureDir, 0o700);
    const admin = stackSecret('admin');
    const pipeline = stackSecret(SECURE_KAFKA.user);
    const keystore = stackSecret('keystore');
    makeCertificates(keystore, print);
    const data = join(secureDir, 'data');
    const properties = join(secureDir, 'server.properties');
    const text = readFileSync(join(SCRIPT_DIR, 'server-secure.properties.template'), 'utf8')
      .replaceAll('@PORT@', String(SECURE_KAFKA.port))
      .replaceAll('@CONTROLLER_PORT@', String(SECURE_KAFKA.controllerPort))
      .replaceAll('@SASL_PLAINTEXT_PORT@', String(SECURE_KAFKA.saslPlaintextPort))
      .replaceAll('@ADMIN_PASSWORD@', admin)
      .replaceAll('@PIPELINE_PASSWORD@', pipeline)
      .replaceAll('@KEYSTORE_PASSWORD@', keystore)
      .replaceAll('@TLS_DIR@', tlsDir)
      .replaceAll('@DATA_DIR@', data);
    rmSync(properties, { force: true });
    writeFileSync(properties, text, { mode: 0o600 });
    writeFileSync(
      SECURE_KAFKA.clientEnv,
      [
        '# Settings for the pipeline against `stack up --secure`: set -a; . .stack/kafka-secure/client.env; set +a',
        `KAFKA_BROKERS=${SECURE_KAFKA.host}:${SECURE_KAFKA.port}`,
        'KAFKA_SSL=true',
        `KAFKA_SSL_CA_FILE=${join(tlsDir, 'ca.pem')}`,
        `KAFKA_SSL_CERT_FILE=${join(tlsDir, 'client.pem')}`,
        `KAFKA_SSL_KEY_FILE=${join(tlsDir, 'client.key')}`,
        'KAFKA_SASL_MECHANISM=scram-sha-512',
        `KAFKA_SASL_USERNAME=${SECURE_KAFKA.user}`,
        `KAFKA_SASL_PASSWORD_FILE=${join(secureDir, `${SECURE_KAFKA.user}.password`)}`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    if (existsSync(join(data, 'meta.properties'))) return;
    print('kafka-secure: formatting its storage with the SCRAM users (first run only)...');
    mkdirSync(data, { recursive: true });
    const classpath = `${join(kafkaDir, 'libs')}/*`;
    const uuid = spawnSync('java', ['-cp', classpath, 'kafka.tools.StorageTool', 'random-uuid'], { encoding: 'utf8' });
    const clusterId = uuid.stdout.trim().split('\n').pop() ?? '';
    if (uuid.status !== 0 || !/^[A-Za-z0-9_-]{22}$/.test(clusterId))
      throw new RedemptionError('STACK_FAILED', `kafka-storage random-uuid failed: ${uuid.stderr || uuid.stdout}`);
    const scram = (user: string, password: string) => ['--add-scram', `SCRAM-SHA-512=[name=${user},password=${password}]`];
    const format = spawnSync(
      'java',
      [
        '-cp',
        classpath,
        'kafka.tools.StorageTool',
        'format',
        '-t',
        clusterId,
        '-c',
        properties,
        '--standalone',
        ...scram('admin', admin),
        ...scram(SECURE_KAFKA.user, pipeline),
      ],
      { encoding: 'utf8' },
    );
    if (format.status !== 0) throw new RedemptionError('STACK_FAILED', `formatting the secured Kafka storage failed: ${format.stderr || format.stdout}`);
  },
  command() {
    return {
      marker: '-Dredemption.stack=kafka-secure',
      args: [
        '-Dredemption.stack=kafka-secure',
        '-Xms128m',
        '-Xmx512m',
        '-XX:+UseG1GC',
        '-Djava.awt.headless=true',
        `-Dlog4j2.configurationFile=${join(SCRIPT_DIR, 'kafka-log4j2.yaml')}`,
        '-cp',
        `${join(kafkaDir, 'libs')}/*`,
        'kafka.Kafka',
        join(secureDir, 'server.properties'),
      ],
    };
  },
  ready: () => secureKafkaAnswers(),
};

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
    // The exact argument: "-Dredemption.stack=kafka" is a prefix of the secured broker's marker.
    return cmdline.split('\0').includes(`-Dredemption.stack=${service.name}`) ? pid : null;
  } catch {
    return null;
  }
}

async function kafkaAnswersMetadata(): Promise<boolean> {
  if (!(await tcpAnswers(ADDRESSES.kafka.host, ADDRESSES.kafka.port))) return false;
  return ((await brokersSeenBy(`${ADDRESSES.kafka.host}:${ADDRESSES.kafka.port}`)) ?? []).length > 0;
}

async function registryAnswers(): Promise<boolean> {
  try {
    const response = await fetch(`http://${ADDRESSES.registry.host}:${ADDRESSES.registry.port}/apis/ccompat/v7/subjects`, {
      signal: AbortSignal.timeout(2000),
    });
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
    await sleep(500);
  }
  const tail = logFile && existsSync(logFile) ? `\nlast lines of ${logFile}:\n${readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n')}` : '';
  throw new RedemptionError('STACK_FAILED', `${what} ${exited ? 'exited before it answered' : `did not answer within ${timeoutMs / 1000} s`}${tail}`);
}

async function startManaged(service: ManagedService, print: Print): Promise<void> {
  const { address } = service;
  if (await service.ready()) {
    print(`${service.name}: already up on ${address.host}:${address.port}`);
    return;
  }
  if (runningPid(service) === null && (await tcpAnswers(address.host, address.port))) {
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
  while (Date.now() < deadline && runningPid(service) !== null) await sleep(250);
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
  if (await tcpAnswers(host, port)) {
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
  await waitFor(`${service.name} on ${host}:${port}`, () => tcpAnswers(host, port), 60_000);
  print(`${service.name}: up on ${host}:${port}`);
}

/**
 * Stops the machine's Redis (SHUTDOWN NOSAVE) and, after `downMs`, starts it again as `stack up` would:
 * the chaos run and the outage tests use this to take Redis away and give it back.
 */
export async function bounceRedis(downMs: number, print: Print = () => {}): Promise<void> {
  const { host, port } = ADDRESSES.redis;
  spawnSync('redis-cli', ['-h', host, '-p', String(port), 'shutdown', 'nosave']);
  await waitFor('Redis to stop', async () => !(await tcpAnswers(host, port)), 10_000);
  print('redis: stopped');
  await sleep(downMs);
  await ensureLocal(
    LOCAL.find((s) => s.name === 'redis')!,
    print,
  );
}

export async function stackUp(print: Print = console.log, o: { secure?: boolean } = {}): Promise<void> {
  for (const service of LOCAL) await ensureLocal(service, print);
  for (const service of MANAGED) await startManaged(service, print);
  if (o.secure) {
    const ports = [SECURE_KAFKA.port, SECURE_KAFKA.controllerPort, SECURE_KAFKA.saslPlaintextPort];
    if (ports.some((port) => port === ADDRESSES.kafka.port || port === ADDRESSES.kafka.port + 1) || new Set(ports).size !== ports.length) {
      throw new RedemptionError(
        'STACK_FAILED',
        "STACK_SECURE_KAFKA_PORT, STACK_SECURE_CONTROLLER_PORT and STACK_SECURE_SASL_PLAINTEXT_PORT must differ from each other and from the plaintext broker's 9092 and 9093",
      );
    }
    await startManaged(kafkaSecure, print);
    print(
      `kafka-secure: SASL_SSL on ${SECURE_KAFKA.host}:${SECURE_KAFKA.port}, SASL_PLAINTEXT on ${SECURE_KAFKA.saslPlaintextPort}; client settings in ${SECURE_KAFKA.clientEnv}`,
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
