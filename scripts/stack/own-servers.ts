import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { RedemptionError } from '../../lib/errors.js';
import { tcpAnswers } from '../../lib/net.js';
import { brokersSeenBy, formatKafkaStorage, installKafkaJars, kafkaJavaArgs, newClusterId } from './kafka.js';
import { SCRIPT_DIR } from './service.js';

/**
 * A Redis, MariaDB or Kafka server of one's own, started from the machine's binaries (Kafka: the stack's
 * jars) on a free port with its data in a temporary folder. The outage tests and the chaos run take
 * servers away (flush, shut down, pause, restart); they do it to these, never to the machine's Redis and
 * MariaDB or the stack's broker, which others are using.
 * Each server is a child of the process that started it and is killed when that process exits.
 */

/** Where a port of `freePort` is picked from when the kernel's ephemeral range leaves room below it. */
const PICKED_FROM = 20_000;

/**
 * The first port of the kernel's ephemeral range: the ports it gives a bind to port 0 and the local end
 * of every outgoing connection. 32768 (Linux's default) where it cannot be read.
 */
export function ephemeralRangeStart(): number {
  try {
    const start = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isSafeInteger(start) && start > 0 ? start : 32768;
  } catch {
    return 32768;
  }
}

/** Resolves with the port once listening on it worked (and stopped), or with null when it is taken. */
export function listenable(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(null));
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as { port: number };
      server.close(() => resolve(bound));
    });
  });
}

/** Ports this process handed out: never handed out twice. */
const handedOut = new Set<number>();

/**
 * A port nobody listens on now, for a server started later on it. Picked at random below the kernel's
 * ephemeral range, from 20000 (above every fixed port of the stack: 9092, 19092-19194, 7000-7005):
 * the kernel's own pick (port 0) lies in the range it also takes the local ends of outgoing connections
 * from, and in the seconds between the pick and a broker's bind (its certificates, its storage, a JVM's
 * start), one of the suite's thousands of connections took the port and the secured broker's start
 * failed with its listener's bind refused. Where the range leaves no room below it, the kernel picks.
 */
export async function freePort(): Promise<number> {
  const below = ephemeralRangeStart();
  for (let attempt = 0; below - PICKED_FROM >= 1000 && attempt < 50; attempt++) {
    const port = PICKED_FROM + Math.floor(Math.random() * (below - PICKED_FROM));
    if (handedOut.has(port) || (await listenable(port)) === null) continue;
    handedOut.add(port);
    return port;
  }
  const port = await listenable(0);
  if (port === null) throw new Error('no free port: listening on port 0 of 127.0.0.1 failed');
  return port;
}

const HOST = '127.0.0.1';

abstract class OwnServer {
  protected child: ChildProcess | null = null;
  private readonly killOnExit = () => this.child?.kill('SIGKILL');

  protected constructor(
    readonly name: string,
    readonly dir: string,
    readonly port: number,
  ) {
    process.once('exit', this.killOnExit);
  }

  /** The server's process id while it runs. */
  get pid(): number {
    if (!this.child?.pid || this.child.exitCode !== null || this.child.signalCode !== null)
      throw new RedemptionError('STACK_FAILED', `${this.name} is not running`);
    return this.child.pid;
  }

  protected abstract command(): { binary: string; args: string[] };

  /** Whether the server takes work (by default: accepts connections). */
  protected ready(): Promise<boolean> {
    return tcpAnswers(HOST, this.port, 500);
  }

  /** Starts the server and waits until it takes connections. */
  protected async launch(): Promise<void> {
    const { binary, args } = this.command();
    const logFile = join(this.dir, `${this.name}.log`);
    const log = openSync(logFile, 'a');
    const child = spawn(binary, args, { stdio: ['ignore', log, log] });
    closeSync(log);
    this.child = child;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 120_000;
    while (!(await this.ready())) {
      const gone = await Promise.race([exited.then(() => true), sleep(200).then(() => false)]);
      if (gone || Date.now() > deadline) {
        // A server that never answered is not left running behind the error.
        await this.kill();
        const tail = readFileSync(logFile, 'utf8').split('\n').slice(-10).join('\n');
        throw new RedemptionError(
          'STACK_FAILED',
          `${this.name} on port ${this.port} ${gone ? 'exited before it answered' : 'did not answer within 120 s'}:\n${tail}`,
        );
      }
    }
  }

  /**
   * The first start, after `prepare` (the data folder's setup): on failure of either, nothing is left
   * behind (no process, no folder), only the error.
   */
  protected async firstLaunch(prepare: () => void = () => {}): Promise<void> {
    try {
      prepare();
      await this.launch();
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Kills the server (kill -9, or `signal` and kill -9 after 30 s) and waits until it is gone. */
  protected async kill(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    if (signal !== 'SIGKILL' && !(await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]))) child.kill('SIGKILL');
    await exited;
  }

  /** Stops the server (kill -9, or `signal` first: a controlled shutdown) and removes its folder. */
  async stop(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    await this.kill(signal);
    process.removeListener('exit', this.killOnExit);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A `redis-server` of one's own: no persistence, as the machine's. */
export class OwnRedis extends OwnServer {
  private constructor(dir: string, port: number) {
    super('redis', dir, port);
  }

  static async start(): Promise<OwnRedis> {
    const server = new OwnRedis(mkdtempSync(join(tmpdir(), 'redeem-own-redis-')), await freePort());
    await server.firstLaunch();
    return server;
  }

  get url(): string {
    return `redis://${HOST}:${this.port}`;
  }

  protected command() {
    return {
      binary: 'redis-server',
      args: ['--bind', HOST, '--port', String(this.port), '--save', '', '--appendonly', 'no', '--dir', this.dir, '--daemonize', 'no'],
    };
  }

  /** FLUSHALL: every key of every database gone. */
  async flushAll(): Promise<void> {
    const result = spawnSync('redis-cli', ['-h', HOST, '-p', String(this.port), 'flushall'], { encoding: 'utf8' });
    if (result.status !== 0 || result.stdout.trim() !== 'OK')
      throw new RedemptionError('STACK_FAILED', `FLUSHALL on port ${this.port}: ${result.stdout}${result.stderr}`);
  }

  /** SHUTDOWN NOSAVE (everything it held is gone), and after `downMs` the server again on the same port. */
  async bounce(downMs: number): Promise<void> {
    const child = this.child!;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    spawnSync('redis-cli', ['-h', HOST, '-p', String(this.port), 'shutdown', 'nosave']);
    await Promise.race([exited, sleep(10_000)]);
    await this.kill();
    await sleep(downMs);
    await this.launch();
  }
}

/**
 * A `mariadbd` of one's own: a data folder made by mariadb-install-db with root allowed in without a
 * password from 127.0.0.1 (as the machine's), and the machine's server settings that matter here.
 */
export class OwnMariadb extends OwnServer {
  private constructor(dir: string, port: number) {
    super('mariadb', dir, port);
  }

  static async start(): Promise<OwnMariadb> {
    const server = new OwnMariadb(mkdtempSync(join(tmpdir(), 'redeem-own-mariadb-')), await freePort());
    await server.firstLaunch(() => server.installDataDir());
    return server;
  }

  private installDataDir(): void {
    const install = spawnSync(
      'mariadb-install-db',
      [
        '--no-defaults',
        `--datadir=${this.dataDir}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        `--user=${userName()}`,
        '--innodb-log-file-size=8M',
      ],
      { encoding: 'utf8' },
    );
    if (install.error || install.status !== 0)
      throw new RedemptionError('STACK_FAILED', `mariadb-install-db failed: ${install.error?.message ?? `${install.stdout}${install.stderr}`}`);
  }

  private get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** A MYSQL_URL for `database` on this server, as root. */
  url(database: string): string {
    return `mysql://root@${HOST}:${this.port}/${database}`;
  }

  protected command() {
    return {
      binary: 'mariadbd',
      args: [
        '--no-defaults',
        `--datadir=${this.dataDir}`,
        `--port=${this.port}`,
        `--bind-address=${HOST}`,
        `--socket=${join(this.dir, 'mariadbd.sock')}`,
        `--pid-file=${join(this.dir, 'mariadbd.pid')}`,
        `--user=${userName()}`,
        '--skip-name-resolve',
        '--skip-log-bin',
        '--character-set-server=utf8mb4',
        '--collation-server=utf8mb4_general_ci',
        '--innodb-log-file-size=8M',
        '--innodb-buffer-pool-size=128M',
      ],
    };
  }

  /** SIGSTOP for `ms`, then SIGCONT: the server holds every connection and answers nothing meanwhile. */
  pause(ms: number): Promise<void> {
    return pauseProcess(this.pid, ms);
  }
}

/** SIGSTOP process `pid` for `ms`, then SIGCONT (also when the wait is cut short). */
export async function pauseProcess(pid: number, ms: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  try {
    await sleep(ms);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

function userName(): string {
  return process.getuid?.() === 0 ? 'root' : (process.env.USER ?? spawnSync('id', ['-un'], { encoding: 'utf8' }).stdout.trim());
}

/**
 * A single-node Kafka (KRaft, broker and controller in one process) of one's own, from the stack's jars
 * and the stack broker's settings, on two free ports. A restart keeps its data, as a restarted broker of
 * a real cluster does.
 */
export class OwnKafka extends OwnServer {
  private constructor(
    dir: string,
    port: number,
    private readonly controllerPort: number,
    /** Where the JVM writes the classes it loaded when it exits (kafka-class-archive.ts), if anywhere. */
    private readonly archiveClassesTo: string | null,
  ) {
    super('kafka', dir, port);
  }

  static async start(o: { archiveClassesTo?: string } = {}): Promise<OwnKafka> {
    // The checkout's jars, fetched here when nothing else of this checkout has (a second checkout's run
    // finds the stack's broker up and the cluster profile held by the first).
    installKafkaJars((line) => process.stderr.write(`own Kafka: ${line}\n`));
    const server = new OwnKafka(mkdtempSync(join(tmpdir(), 'redeem-own-kafka-')), await freePort(), await freePort(), o.archiveClassesTo ?? null);
    await server.firstLaunch(() => server.formatStorage());
    return server;
  }

  private formatStorage(): void {
    const data = join(this.dir, 'data');
    mkdirSync(data);
    writeFileSync(this.properties, this.settings(data));
    formatKafkaStorage(newClusterId(), this.properties, ['--standalone'], 'the own Kafka storage');
  }

  /** The KAFKA_BROKERS of this broker. */
  get brokers(): string {
    return `${HOST}:${this.port}`;
  }

  private get properties(): string {
    return join(this.dir, 'server.properties');
  }

  private settings(data: string): string {
    const template = readFileSync(join(SCRIPT_DIR, 'server.properties.template'), 'utf8');
    return template.replaceAll('@DATA_DIR@', data).replaceAll(`${HOST}:9092`, this.brokers).replaceAll(`${HOST}:9093`, `${HOST}:${this.controllerPort}`);
  }

  protected command() {
    // The client compiler only (C1): a test's broker lives a minute or two, and its start costs about
    // 30% less CPU than with the optimizing compiler.
    const jvm = ['-Xms128m', '-Xmx512m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1'];
    if (this.archiveClassesTo !== null) jvm.push(`-XX:ArchiveClassesAtExit=${this.archiveClassesTo}`);
    return { binary: 'java', args: kafkaJavaArgs(`own-kafka-${this.port}`, jvm, this.properties) };
  }

  /** Answers metadata as a broker (the port opens before the node has joined its own quorum). */
  protected override async ready(): Promise<boolean> {
    return ((await brokersSeenBy(this.brokers)) ?? []).length > 0;
  }

  /**
   * SIGTERM (a controlled shutdown), then the broker again on the same ports with the same data; says
   * how long each took (ms), for a test on a busy host to report.
   */
  async restart(): Promise<{ stoppedMs: number; answeredMs: number }> {
    const started = Date.now();
    await this.kill('SIGTERM');
    const stopped = Date.now();
    await this.launch();
    return { stoppedMs: stopped - started, answeredMs: Date.now() - stopped };
  }
}
