/**
 * A real peer on the same topic in the same run: Kafka Connect standalone (connect-runtime 4.1.1) with
 * the Debezium JDBC sink connector, reading the requests topic through Apicurio's Avro converter in
 * Confluent-compatible mode (the topic's Confluent wire format, the registry's ccompat ids = content
 * ids) and upserting every request into one MySQL table keyed by (coupon_code, request_id). It applies
 * no rules and keeps no ledger: it is what a generic Kafka-to-MySQL sink costs on this host, the figure a
 * skeptic would set beside the pipeline's decisions per second. Jars come from Maven Central
 * (bench/connect/connect-pom.xml) into .stack/connect/libs, outside git.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import mysql from 'mysql2/promise';

import { CHECKOUT_DIR } from '../scripts/checkout-dir.js';
import { tracked } from '../scripts/harness/live-children.js';
import { verifyArtifacts } from '../scripts/stack/artifacts.js';
import { mvn } from '../scripts/stack/maven.js';
import { freePort } from '../scripts/stack/own-servers.js';

export interface PeerResult {
  rows: number;
  seconds: number;
  perSecond: number;
  how: string;
}

const ROOT = CHECKOUT_DIR;
const CACHE = join(ROOT, '.stack', 'connect');
const LIBS = join(CACHE, 'libs');

/**
 * Fetches the jars once (Maven with strict checksums) and checks them against the SHA-256 digests pinned
 * in the repository before every run, as the stack does its own: the peer runs them with the MySQL
 * password in hand. Returns a reason when that is not possible here.
 */
export function ensureConnectJars(print: (line: string) => void): string | null {
  const complete = join(LIBS, '.complete');
  try {
    if (!existsSync(complete)) {
      rmSync(LIBS, { recursive: true, force: true });
      mvn(
        ['-f', join(ROOT, 'bench', 'connect', 'connect-pom.xml'), 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${LIBS}`],
        'Kafka Connect and the Debezium JDBC sink',
        print,
      );
    }
    verifyArtifacts('connect', LIBS);
    writeFileSync(complete, '');
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

interface PeerOptions {
  brokers: string[];
  registryUrl: string;
  topic: string;
  mysqlUrl: string;
  expectedRows: number;
  batchSize: number;
  /** Connect tasks (each a consumer and a JDBC connection): the pipeline's flush concurrency */
  tasks: number;
  timeoutMs: number;
}

export async function runConnectPeer(o: PeerOptions): Promise<PeerResult> {
  const dir = join(CACHE, `run-${process.pid}-${Date.now()}`);
  // The connector's properties hold the MySQL password: the folder and its files are the owner's only.
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const restPort = await freePort();
  writeConnectFiles(dir, o, restPort);
  const worker = startWorker(dir);
  const connection = await mysql.createConnection({ uri: o.mysqlUrl });
  try {
    // The table made beforehand, keyed as the pipeline's decisions: with several tasks, the connector's
    // own CREATE TABLE races with itself and the losing tasks fail.
    await connection.query(
      'CREATE TABLE IF NOT EXISTS connect_requests (coupon_code VARCHAR(64) NOT NULL, request_id VARCHAR(128) NOT NULL, user_id VARCHAR(128) NOT NULL, order_id VARCHAR(128) NOT NULL, ' +
        'op VARCHAR(16) NOT NULL, reverses_request_id VARCHAR(128) NULL, amount_cents BIGINT NOT NULL, currency VARCHAR(3) NOT NULL, occurred_at DATETIME(3) NOT NULL, source VARCHAR(255) NOT NULL, ' +
        'PRIMARY KEY (coupon_code, request_id))',
    );
    const { rows, seconds } = await countRows(connection, { ...o, logFile: join(dir, 'connect.log') }, async (poll) => {
      if (worker.exited()) return `Kafka Connect exited: ${worker.stderr().slice(-800)} (log: ${join(dir, 'connect.log')})`;
      // A failed task does not end the worker: its status says so (asked every 2 s).
      const failure = poll % 10 === 0 ? await failedTask(restPort) : null;
      return failure ? `a Kafka Connect task failed: ${failure}` : null;
    });
    rmSync(dir, { recursive: true, force: true });
    return {
      rows,
      seconds,
      perSecond: Math.round(rows / Math.max(seconds, 1e-3)),
      how: `Kafka Connect 4.1.1 standalone, Debezium JDBC sink (upsert, key coupon_code+request_id, batch ${o.batchSize}, ${o.tasks} tasks), Apicurio AvroConverter (as-confluent)`,
    };
  } finally {
    await connection.end();
    worker.kill();
    // A failed run keeps its folder for the log, not the password.
    rmSync(join(dir, 'sink.properties'), { force: true });
  }
}

/** The worker's, the connector's and the logging's properties files. */
function writeConnectFiles(dir: string, o: PeerOptions, restPort: number): void {
  const db = new URL(o.mysqlUrl);
  // Bulk statements: the driver sends a JDBC batch as one bulk command, as a tuned sink would be set up.
  const jdbcUrl = `jdbc:mariadb://${db.hostname}:${db.port || 3306}${db.pathname}?useBulkStmts=true`;
  // The registry's v2 API (Apicurio 3 still serves it) at the same host as the ccompat URL.
  const v2 = o.registryUrl.replace(/\/apis\/ccompat\/v\d+\/?$/, '/apis/registry/v2');
  const write = (file: string, lines: string[]) => writeFileSync(join(dir, file), [...lines, ''].join('\n'), { mode: 0o600 });
  write('worker.properties', [
    `bootstrap.servers=${o.brokers.join(',')}`,
    // Its REST API on a free local port: 8083 may be someone else's on a shared host.
    `listeners=http://127.0.0.1:${restPort}`,
    'key.converter=org.apache.kafka.connect.storage.StringConverter',
    'value.converter=io.apicurio.registry.utils.converter.AvroConverter',
    `value.converter.apicurio.registry.url=${v2}`,
    'value.converter.apicurio.registry.as-confluent=true',
    'value.converter.apicurio.registry.use-id=contentId',
    'value.converter.apicurio.registry.headers.enabled=false',
    `offset.storage.file.filename=${join(dir, 'offsets')}`,
    'offset.flush.interval.ms=1000',
    // The same fetch as the pipeline's flush: up to batchSize records per poll.
    `consumer.max.poll.records=${o.batchSize}`,
    'consumer.auto.offset.reset=earliest',
    'plugin.discovery=only_scan',
  ]);
  write('sink.properties', [
    'name=bench-peer',
    'connector.class=io.debezium.connector.jdbc.JdbcSinkConnector',
    `tasks.max=${o.tasks}`,
    `topics=${o.topic}`,
    `connection.url=${jdbcUrl}`,
    `connection.username=${decodeURIComponent(db.username) || 'root'}`,
    `connection.password=${decodeURIComponent(db.password)}`,
    'insert.mode=upsert',
    'primary.key.mode=record_value',
    'primary.key.fields=coupon_code,request_id',
    'schema.evolution=basic',
    'collection.name.format=connect_requests',
    `batch.size=${o.batchSize}`,
    'database.time_zone=UTC',
  ]);
  write('log4j2.properties', [
    'status = warn',
    'appender.f.type = File',
    'appender.f.name = F',
    `appender.f.fileName = ${join(dir, 'connect.log')}`,
    'appender.f.layout.type = PatternLayout',
    'appender.f.layout.pattern = %d %p %c %m%n',
    'rootLogger.level = warn',
    'rootLogger.appenderRef.f.ref = F',
  ]);
}

/** Kafka Connect standalone with the files of `dir`; its stderr's tail kept for an error message. */
function startWorker(dir: string): { exited: () => boolean; stderr: () => string; kill: () => void } {
  const java = tracked(
    spawn(
      'java',
      [
        '-Xmx512m',
        `-Dlog4j2.configurationFile=${join(dir, 'log4j2.properties')}`,
        '-cp',
        `${LIBS}/*`,
        'org.apache.kafka.connect.cli.ConnectStandalone',
        join(dir, 'worker.properties'),
        join(dir, 'sink.properties'),
      ],
      { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    ),
  );
  let stderr = '';
  java.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let exited = false;
  java.on('close', () => (exited = true));
  return { exited: () => exited, stderr: () => stderr, kill: () => java.kill('SIGKILL') };
}

/**
 * Counts the table's rows every 200 ms until all expected are there: the span is from the first row seen
 * to the last one. `problem` is asked before each count (a dead worker, a failed task) and ends the wait.
 */
async function countRows(
  connection: mysql.Connection,
  o: PeerOptions & { logFile: string },
  problem: (poll: number) => Promise<string | null>,
): Promise<{ rows: number; seconds: number }> {
  let first = 0;
  let last = 0;
  let rows = 0;
  const deadline = Date.now() + o.timeoutMs;
  let polls = 0;
  while (rows < o.expectedRows) {
    const wrong = await problem(++polls);
    if (wrong) throw new Error(wrong);
    if (Date.now() > deadline) throw new Error(`Kafka Connect wrote ${rows} of ${o.expectedRows} rows in ${o.timeoutMs / 1000} s (log: ${o.logFile})`);
    await sleep(200);
    const [count] = await connection.query('SELECT COUNT(*) AS n FROM connect_requests');
    const now = Number((count as { n: number }[])[0]!.n);
    if (now > 0 && first === 0) first = performance.now() - 200;
    if (now > rows) last = performance.now();
    rows = now;
  }
  return { rows, seconds: (last - first) / 1000 };
}

/** The first failed task's deepest cause, from the worker's REST API; null while none failed. */
async function failedTask(port: number): Promise<string | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/connectors/bench-peer/status`);
    if (!response.ok) return null;
    const status = (await response.json()) as { tasks: { state: string; trace?: string }[] };
    const failed = status.tasks.find((t) => t.state === 'FAILED');
    if (!failed) return null;
    const causes = (failed.trace ?? '').split('\n').filter((l) => l.startsWith('Caused by'));
    return causes[causes.length - 1] ?? failed.trace?.slice(0, 300) ?? 'FAILED';
  } catch {
    return null; // not listening yet
  }
}
