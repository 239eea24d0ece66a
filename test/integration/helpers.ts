import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import type { Admin, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { inject } from 'vitest';

import { type Config, loadConfig } from '../../lib/config.js';
import { groupProgress, type OffsetRange, readRanges, topicOffsets, topicRanges } from '../../lib/kafka.js';
import { migrateToLatest, withDatabase } from '../../lib/mysql.js';
import { removeNamespace, removeSubjects } from '../../lib/namespace.js';
import { Runtime } from '../../lib/runtime.js';
import { ensurePipelineTopics } from '../../lib/topics.js';
import { RedemptionProducer } from '../../producers/redemption-producer.js';
import type { RedemptionDecided, RedemptionRequested } from '../../schemas/types.js';
import { ConsumerProcess, logEntries } from '../../scripts/harness/consumer-process.js';
import { formatVerifyReport, pipelineVerifyOptions, verify } from '../../verify/verify.js';

/**
 * The `redeem` entry the tests run with node: this run's compiled build of the source (global-setup.ts),
 * or bin/redeem.mjs (through tsx) when a file runs without the integration project's global setup.
 */
export const REDEEM = inject('redeemEntry') ?? fileURLToPath(new URL('../../bin/redeem.mjs', import.meta.url));

/** A message read back from a topic, with the partition it was on. */
export type TopicMessage = KafkaMessage & { partition: number };

/**
 * One test's own world: topics, consumer group, database and Redis key prefix named after a random id,
 * so tests never see each other's data; `cleanup` removes all of it.
 */
export class IsolatedPipeline {
  readonly id = randomBytes(4).toString('hex');
  readonly env: Record<string, string>;
  readonly config: Config;
  readonly rt: Runtime;
  private pollAdmin?: Promise<Admin>;

  constructor(extraEnv: Record<string, string> = {}) {
    this.env = {
      REDEMPTION_TOPIC: `test-${this.id}.requested`,
      AUDIT_TOPIC: `test-${this.id}.decided`,
      CONSUMER_GROUP: `test-${this.id}-group`,
      REDIS_KEY_PREFIX: `test-${this.id}`,
      MYSQL_URL: withDatabase(loadConfig({}).mysqlUrl, `redeem_test_${this.id}`),
      TOPIC_PARTITIONS: '3',
      LOG_LEVEL: 'warn',
      METRICS_PORT: '0',
      ...extraEnv,
    };
    this.config = loadConfig(this.env);
    this.rt = new Runtime(this.config);
  }

  async setUp(): Promise<void> {
    await migrateToLatest(this.config.mysqlUrl);
    const admin = this.rt.kafka().admin();
    await admin.connect();
    try {
      await ensurePipelineTopics(admin, this.config, this.rt.logger);
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * Runs `work` with the admin client this pipeline keeps for its polls (`drained`, `committedOffsets`,
   * `endOffsets`, `readTopic`), connected on first use and closed by `cleanup`. A fresh client per poll
   * cost about 25 ms of the test's CPU and as much again of the broker's (connect, metadata, disconnect),
   * several times the request itself, and a wait polls every 300 ms. A failed call drops the client, so
   * the next one connects afresh, as every call did before (a broker an outage test restarted).
   */
  async withAdmin<T>(work: (admin: Admin) => Promise<T>): Promise<T> {
    const connecting = (this.pollAdmin ??= connectAdmin(this.rt.kafka()));
    try {
      return await work(await connecting);
    } catch (error) {
      if (this.pollAdmin === connecting) {
        this.pollAdmin = undefined;
        await disconnectAdmin(connecting);
      }
      throw error;
    }
  }

  async producer(): Promise<RedemptionProducer> {
    const codec = await this.rt.registry().codecFor<RedemptionRequested>('requested', this.config.redemptionTopic);
    return RedemptionProducer.connect(this.rt.kafka(), codec, this.config.redemptionTopic);
  }

  async produce(requests: readonly RedemptionRequested[]): Promise<void> {
    const producer = await this.producer();
    try {
      for (let i = 0; i < requests.length; i += 1000) await producer.sendAll(requests.slice(i, i + 1000));
    } finally {
      await producer.disconnect();
    }
  }

  /** Runs `npm run redeem -- ...` as a child process with this pipeline's environment. */
  cli(args: string[], extraEnv: Record<string, string> = {}): Promise<CliResult> {
    return runCli(args, { ...this.env, ...extraEnv });
  }

  /**
   * Every message on `topic` (per partition in offset order), each with its partition, once at least
   * `atLeast` have arrived: the whole topic up to its end offsets then. Call it once whatever writes the
   * topic has finished (the command exited, the consumer stopped), so that anything beyond the expected
   * count is in the result.
   */
  async readTopic(topic: string, atLeast: number, timeoutMs = 60_000): Promise<TopicMessage[]> {
    const kafka = this.rt.kafka();
    let ranges: OffsetRange[] = [];
    await waitUntil(
      `${atLeast} messages on ${topic}`,
      async () => {
        ranges = await this.withAdmin((admin) => topicRanges(admin, topic));
        return ranges.reduce((n, r) => n + r.to - r.from, 0) >= atLeast;
      },
      timeoutMs,
    );
    const messages: TopicMessage[] = [];
    await readRanges({
      kafka,
      topic,
      ranges,
      onChunk: (chunk) => void messages.push(...chunk.messages.map((m) => ({ ...m, partition: chunk.partition }))),
    });
    return messages;
  }

  /** The next offset to be written on each partition of `topic`. */
  async endOffsets(topic: string): Promise<Map<number, number>> {
    return this.withAdmin(async (admin) => new Map((await topicOffsets(admin, topic)).map((o) => [o.partition, Number(o.high)])));
  }

  async auditRecords(atLeast: number): Promise<RedemptionDecided[]> {
    const decoder = this.rt.registry().decoderFor<RedemptionDecided>('decided');
    const messages = await this.readTopic(this.config.auditTopic, atLeast);
    return Promise.all(messages.map((m) => decoder.decode(m.value!)));
  }

  async cleanup(): Promise<void> {
    if (this.pollAdmin) await disconnectAdmin(this.pollAdmin);
    this.pollAdmin = undefined;
    // The registry subjects of the test's topics too, those it derived (`.decided.rebuild`, `.decided.other`)
    // included: only the two main ones went, and every suite run left a few. Best effort, as before: a
    // test may have struck its registry.
    await removeSubjects(this.rt.registry(), `test-${this.id}`).catch(() => undefined);
    await removeNamespace({
      kafka: this.rt.kafka(),
      redis: this.rt.redis(),
      topicPrefix: `test-${this.id}`,
      // With what the tests derive from the prefix (`-rebuild`, `-forgotten`): `:*` alone left 3,885 keys
      // of the replay into a fresh database behind on every suite run.
      redisPattern: `${this.config.redisKeyPrefix}*`,
      databases: [this.config.mysqlUrl],
    });
    await this.rt.close();
  }
}

/**
 * A plain KafkaJS producer for a test's hand-made messages, written exactly once: idempotent, one request
 * in flight. A plain one resends a batch whose answer timed out on a busy host, and a test that counts
 * what it wrote (verify's repeated audit record: 450 records instead of 301) then fails.
 */
export function exactProducer(kafka: Kafka): Producer {
  return kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
}

/**
 * Runs verify (the oracle `redeem verify` runs, verify/verify.ts) for this pipeline in the test's own
 * process; returns its report, and whether it found MySQL equal. The command itself is tested in
 * verify.test.ts: the other files call it about 25 times a run, and a spawn cost about 0.45 s of CPU
 * before it read anything. It gets clients of its own, as the command would, so that a connection an
 * outage test broke is not the one it reads through.
 */
export async function verifyEqual(p: IsolatedPipeline): Promise<{ equal: boolean; report: string }> {
  const rt = new Runtime(p.config);
  try {
    const report = await verify(pipelineVerifyOptions(rt));
    return { equal: report.equal, report: formatVerifyReport(report) };
  } finally {
    await rt.close();
  }
}

/**
 * The audit stream's promise: every decided message has at least one record, and all records of one
 * message (a repeat after a crash) agree.
 */
export function auditProblems(records: readonly RedemptionDecided[], messages: Map<number, number>): string[] {
  const bySource = new Map<string, string>();
  const problems: string[] = [];
  for (const r of records) {
    const source = `${r.source_partition}/${r.source_offset}`;
    const decision = `${r.request_id}:${r.decision}:${r.reason}`;
    const earlier = bySource.get(source);
    if (earlier !== undefined && earlier !== decision) problems.push(`message ${source} has conflicting decisions ${earlier} and ${decision}`);
    bySource.set(source, decision);
  }
  for (const [partition, end] of messages) {
    for (let offset = 0; offset < end; offset++)
      if (!bySource.has(`${partition}/${offset}`)) problems.push(`message ${partition}/${offset} has no decision record`);
  }
  return problems;
}

/** A `redeem consume` running in the background with a pipeline's environment (scripts/harness). */
export class BackgroundConsumer extends ConsumerProcess {
  /** `logFile`: also append everything it logs there, as it logs it. */
  constructor(env: Record<string, string>, args: string[] = [], logFile?: string) {
    super({ ...process.env, ...env }, { args, entry: REDEEM, logFile });
  }
}

/** A port nobody listens on now, for a server a test starts of its own. */
export { freePort } from '../../scripts/stack/own-servers.js';

/** Polls until `check` holds, failing with `what` after the timeout: never sleep and hope. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastKafkaError: Error | undefined;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
      lastKafkaError = undefined;
    } catch (error) {
      // A broker that is starting or restarting (an outage test's) answers "coordinator is loading" or
      // refuses connections for a while: for a wait, that is "not yet". Anything else is a failure.
      if (!(error instanceof Error && error.name.startsWith('KafkaJS'))) throw error;
      lastKafkaError = error;
    }
    await sleep(300);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastKafkaError ? ` (the broker last answered: ${lastKafkaError.message})` : ''}`);
}

async function connectAdmin(kafka: Kafka): Promise<Admin> {
  const admin = kafka.admin();
  await admin.connect();
  return admin;
}

/** Disconnects an admin client that may never have connected (its connect failed: nothing to close). */
async function disconnectAdmin(connecting: Promise<Admin>): Promise<void> {
  const admin = await connecting.catch(() => null);
  await admin?.disconnect();
}

function progress(p: IsolatedPipeline) {
  return p.withAdmin((admin) => groupProgress(admin, p.config.consumerGroup, p.config.redemptionTopic));
}

/** The pipeline group's committed offset per partition (0 where nothing is committed yet). */
export async function committedOffsets(p: IsolatedPipeline): Promise<Map<number, number>> {
  return (await progress(p)).committed;
}

/** True once the pipeline's group has committed every partition up to its end. */
export async function drained(p: IsolatedPipeline): Promise<boolean> {
  return (await progress(p)).lag === 0;
}

/**
 * Waits until the group has drained the topic while `consumer` works on it. Fails at once when the
 * consumer exits, and at the timeout with each partition's end and committed offset and the consumer's
 * last warnings: a wait that never ends says whether the requests were not decided, not committed, or
 * the consumer was gone.
 */
export async function waitForDrainBy(p: IsolatedPipeline, consumer: ConsumerProcess, timeoutMs = 120_000): Promise<void> {
  let exitCode: number | null | undefined;
  void consumer.exited.then((code) => (exitCode = code));
  try {
    await waitUntil(
      'the group to drain the topic',
      async () => {
        if (exitCode !== undefined)
          throw new Error(`the consumer exited (code ${exitCode}) before the group drained the topic; its last words: ${consumer.lastWords()}`);
        return drained(p);
      },
      timeoutMs,
    );
  } catch (error) {
    if (exitCode !== undefined || !(error instanceof Error)) throw error;
    error.message += `\n${await drainReport(p, consumer)}`;
    throw error;
  }
}

/** Where a drain stands: each partition's end against its committed offset, and the consumer's last warnings. */
async function drainReport(p: IsolatedPipeline, consumer: ConsumerProcess): Promise<string> {
  const partitions = await progress(p).then(
    ({ ends, committed }) => [...ends].map(([partition, end]) => `${partition}: ${committed.get(partition) ?? 0}/${end}`).join(', '),
    (error: unknown) => `unknown (${(error as Error).message})`,
  );
  const warnings = logEntries(consumer.stderr)
    .filter((e) => typeof e.level === 'number' && e.level >= 40)
    .slice(-8)
    .map(
      (e) =>
        `${new Date(e.time as number).toISOString()} ${String(e.msg)}${e.err ? `: ${String((e.err as { message?: unknown }).message)}` : e.error ? `: ${String(e.error)}` : ''}`,
    );
  return `committed/end per partition: ${partitions}\nthe consumer's last warnings:\n${warnings.join('\n') || '(none)'}`;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: Record<string, string>, timeoutMs = 170_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [REDEEM, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redeem ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
