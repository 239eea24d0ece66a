import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { configTableMarkdown } from '../lib/config.js';
import { parseCouponsCsv } from '../lib/coupon-csv.js';
import { parseIsoInstant } from '../lib/time-input.js';
import { couponCodes, generateCoupons, upsertCoupons } from '../lib/coupon-catalog.js';
import { ConfigError, RedemptionError } from '../lib/errors.js';
import { migrateToLatest } from '../lib/mysql.js';
import { stackDown, stackStatus, stackUp } from '../scripts/stack/stack.js';
import { auditStats, formatAuditStats, tailAudit } from './commands/audit.js';
import { DECISIONS, REJECT_REASONS, type Decision, type RejectReason } from '../schemas/types.js';
import { consume, formatStats } from './commands/consume.js';
import { demo } from './commands/demo.js';
import { status } from './commands/status.js';
import { rebuild, replay } from './commands/replay.js';
import { diffDatabases } from './commands/diff.js';
import { databaseName } from '../lib/mysql.js';
import { produceFile, produceSimulation } from './commands/produce.js';
import { Runtime } from './runtime.js';
import { formatVerifyReport, verify } from '../verify/verify.js';
import type { RedemptionRequested } from '../schemas/types.js';

const print = (line: string) => process.stdout.write(`${line}\n`);

function int(min: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min) throw new InvalidArgumentError(`must be a whole number >= ${min}`);
    return Number(value);
  };
}

function share(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('must be a number between 0 and 1');
  return n;
}

function duration(value: string): number {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(value);
  if (!match) throw new InvalidArgumentError('must be a duration like 90s, 5m or 1h');
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

function isoDate(value: string): Date {
  const parsed = parseIsoInstant(value);
  if (!(parsed instanceof Date)) throw new InvalidArgumentError(parsed.problem);
  return parsed;
}

/** Runs a command with a Runtime built from the environment, and always closes it. */
async function withRuntime<T>(work: (rt: Runtime) => Promise<T>): Promise<T> {
  const rt = Runtime.fromEnv();
  try {
    return await work(rt);
  } finally {
    await rt.close();
  }
}

const program = new Command('redeem').description('The coupon-redemption pipeline: Kafka in, exactly-once effects in MySQL, an audit stream out.');

const stack = program.command('stack').description('the local Kafka, schema registry, Redis and MySQL');
stack.command('up').description('start what is not running (idempotent)').action(() => stackUp(print));
stack.command('down').description('stop what `stack up` started').action(() => stackDown(print));
stack
  .command('status')
  .description('each component, its address and whether it answers')
  .action(async () => {
    const rows = await stackStatus();
    for (const r of rows) print(`${r.component.padEnd(9)} ${r.address.padEnd(16)} ${(r.up ? 'up' : 'DOWN').padEnd(5)} ${r.managed}`);
    if (rows.some((r) => !r.up)) process.exitCode = 1;
  });

program
  .command('migrate')
  .description('create the database named in MYSQL_URL if missing and run pending migrations')
  .action(() =>
    withRuntime(async (rt) => {
      const ran = await migrateToLatest(rt.config.mysqlUrl);
      print(ran.length > 0 ? `migrated: ${ran.join(', ')}` : 'already up to date');
    }),
  );

const coupons = program.command('coupons').description('the coupon catalogue');
coupons
  .command('import <file>')
  .description('load coupons from a CSV (code,campaign_id,quota,per_user_limit,valid_from,valid_until); a bad file loads nothing')
  .action((file: string) =>
    withRuntime(async (rt) => {
      const rows = parseCouponsCsv(readFileSync(file));
      await upsertCoupons(rt.knex(), rows);
      print(`imported ${rows.length} coupons from ${file}`);
    }),
  );
coupons
  .command('generate')
  .description('make demo coupons PREFIX-000001...')
  .requiredOption('--count <n>', 'how many', int(1))
  .option('--prefix <prefix>', 'code prefix', 'DEMO')
  .option('--campaigns <n>', 'spread over this many campaigns', int(1), 5)
  .option('--quota <n>', 'quota of each coupon', int(0), 100)
  .option('--per-user-limit <n>', 'redemptions per user', int(1), 2)
  .option('--valid-from <time>', 'ISO-8601', isoDate, new Date('2026-01-01T00:00:00Z'))
  .option('--valid-until <time>', 'ISO-8601', isoDate, new Date('2027-01-01T00:00:00Z'))
  .action((o: { count: number; prefix: string; campaigns: number; quota: number; perUserLimit: number; validFrom: Date; validUntil: Date }) =>
    withRuntime(async (rt) => {
      const n = await upsertCoupons(rt.knex(), generateCoupons(o));
      print(`generated ${n} coupons ${o.prefix}-*`);
    }),
  );

program
  .command('produce')
  .description('send RedemptionRequested events: from a JSON-lines file, or a simulated checkout')
  .option('--file <path>', 'one request per line, JSON with the schema field names')
  .option('--resume', 'with --file: continue after the last line the broker acknowledged (recorded in <file>.produced)', false)
  .option('--generate <n>', 'simulate n checkout requests', int(1))
  .option('--coupons <n>', 'simulation: over coupons PREFIX-000001..n', int(1), 100)
  .option('--coupon-prefix <prefix>', 'simulation: coupon code prefix', 'DEMO')
  .option('--skew <s>', 'simulation: Zipf exponent of coupon popularity (0 = uniform)', Number, 1.0)
  .option('--retry-share <x>', 'simulation: share of upstream retries', share, 0.03)
  .option('--refund-share <x>', 'simulation: share of refunds', share, 0.02)
  .option('--users <n>', 'simulation: distinct users', int(1), 5000)
  .option('--seed <n>', 'simulation: seed, for a repeatable run', int(0), 42)
  .option('--rate <n>', 'requests per second (default: as fast as acknowledged)', int(1))
  .option('--no-progress', 'no progress bar')
  .action(
    (o: { file?: string; resume: boolean; generate?: number; coupons: number; couponPrefix: string; skew: number; retryShare: number; refundShare: number; users: number; seed: number; rate?: number; progress: boolean }) =>
      withRuntime(async (rt) => {
        if ((o.file === undefined) === (o.generate === undefined)) throw new InvalidArgumentError('give exactly one of --file or --generate');
        const pacing = { rate: o.rate ?? null, progress: o.progress };
        const sent =
          o.file !== undefined
            ? await produceFile(rt, o.file, { ...pacing, resume: o.resume })
            : await produceSimulation(
                rt,
                {
                  count: o.generate!,
                  couponCodes: couponCodes(o.couponPrefix, o.coupons),
                  skew: o.skew,
                  retryShare: o.retryShare,
                  refundShare: o.refundShare,
                  users: o.users,
                  seed: o.seed,
                },
                pacing,
              );
        print(`produced ${sent} requests to ${rt.config.redemptionTopic}`);
      }),
  );

program
  .command('consume')
  .description('run one member of the consumer group')
  .option('--exit-when-idle <seconds>', 'exit 0 once there has been nothing to do for this long', int(1))
  .action((o: { exitWhenIdle?: number }) =>
    withRuntime(async (rt) => {
      const stats = await consume(rt, o);
      process.stderr.write(`${formatStats(stats)}\n`);
    }),
  );

const audit = program.command('audit').description('the audit stream (RedemptionDecided)');
function oneOf<T extends string>(allowed: readonly T[]) {
  return (value: string): T => {
    if (!allowed.includes(value as T)) throw new InvalidArgumentError(`must be one of ${allowed.join(', ')}`);
    return value as T;
  };
}

/** "1h", "30m", "2d" ago, or an ISO-8601 time. */
function since(value: string): Date {
  const match = /^(\d+)(s|m|h|d)$/.exec(value);
  if (match) return new Date(Date.now() - Number(match[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd']);
  return isoDate(value);
}

audit
  .command('tail')
  .description('print audit records as JSON lines')
  .option('--coupon <code>', 'only this coupon')
  .option('--decision <decision>', `only this decision (${DECISIONS.join(', ')})`, oneOf(DECISIONS))
  .option('--reason <reason>', `only this reject reason (${REJECT_REASONS.join(', ')})`, oneOf(REJECT_REASONS))
  .option('--since <when>', 'from records received since then: 1h, 30m, 2d or an ISO-8601 time', since)
  .option('--from-beginning', 'from the oldest record kept, not only new ones', false)
  .option('--exit-when-idle <seconds>', 'exit once no record came for this long', int(1))
  .action((o: { coupon?: string; decision?: Decision; reason?: RejectReason; since?: Date; fromBeginning: boolean; exitWhenIdle?: number }) =>
    withRuntime(async (rt) => {
      await tailAudit(rt, { ...o, write: print });
    }),
  );
audit
  .command('stats')
  .description('counts by decision and reason, and the top coupons by redemptions applied')
  .option('--since <when>', '1h, 30m, 2d or an ISO-8601 time', since, new Date(Date.now() - 3_600_000))
  .option('--top <n>', 'how many coupons to list', int(1), 10)
  .action((o: { since: Date; top: number }) =>
    withRuntime(async (rt) => {
      print(formatAuditStats(await auditStats(rt, o.since, o.top), o.since));
    }),
  );

program
  .command('demo')
  .description('quick start: stack up, migrate, demo coupons, a checkout burst, consume it, summary')
  .option('--requests <n>', 'checkout requests to simulate', int(1), 20000)
  .option('--coupons <n>', 'demo coupons', int(1), 200)
  .option('--seed <n>', 'simulation seed (default: a new one each run, so each run adds new requests)', int(0))
  .action((o: { requests: number; coupons: number; seed?: number }) =>
    withRuntime((rt) => demo(rt, { ...o, seed: o.seed ?? Date.now() % 1_000_000_000 }, print)),
  );

function partitionOffsets(value: string): Map<number, number> {
  const map = new Map<number, number>();
  for (const part of value.split(',')) {
    const match = /^(\d+):(\d+)$/.exec(part.trim());
    if (!match) throw new InvalidArgumentError('must be partition:offset pairs, e.g. 0:1200,1:980');
    map.set(Number(match[1]), Number(match[2]));
  }
  return map;
}

program
  .command('replay')
  .description('run the requests topic, or a range of it, through the pipeline under its own group (safe next to the live group)')
  .option('--from-timestamp <time>', 'start at the first message at or after this time (ISO-8601)', isoDate)
  .option('--to-timestamp <time>', 'stop before the first message at or after this time', isoDate)
  .option('--from-offsets <list>', 'start offsets, partition:offset[,partition:offset...]', partitionOffsets)
  .option('--rate <n>', 'messages per second at most', int(1))
  .option('--group <name>', 'consumer group (default: <CONSUMER_GROUP>-replay-<time>)')
  .option('--dry-run', 'decide and report what would change, writing nothing', false)
  .option('--no-progress', 'no progress bar')
  .action((o: { fromTimestamp?: Date; toTimestamp?: Date; fromOffsets?: Map<number, number>; rate?: number; group?: string; dryRun: boolean; progress: boolean }) =>
    withRuntime(async (rt) => {
      const stats = await replay(rt, { ...o, rate: o.rate ?? null });
      print(`${o.dryRun ? 'dry run, nothing written: ' : ''}replayed ${stats.messages} messages`);
      print(formatStats(stats));
    }),
  );

program
  .command('rebuild')
  .description('rebuild the whole MySQL state from the requests topic into a fresh database (coupon terms copied from the live one)')
  .requiredOption('--into <database>', 'the fresh database to build')
  .option('--rate <n>', 'messages per second at most', int(1))
  .option('--no-progress', 'no progress bar')
  .action((o: { into: string; rate?: number; progress: boolean }) =>
    withRuntime(async (rt) => {
      if (!/^[A-Za-z0-9_]{1,64}$/.test(o.into)) throw new InvalidArgumentError('--into must be a database name (letters, digits, "_")');
      const stats = await rebuild(rt, o.into, { rate: o.rate ?? null, progress: o.progress });
      print(`rebuilt ${o.into} from ${stats.messages} messages`);
      print(formatStats(stats));
      print(`compare with: npx redeem diff ${o.into}`);
    }),
  );

program
  .command('diff <database> [other]')
  .description('compare coupon counts and redemption rows of two databases (other: the one in MYSQL_URL); exit 1 when they differ')
  .action((left: string, right: string | undefined) =>
    withRuntime(async (rt) => {
      const other = right ?? databaseName(rt.config.mysqlUrl);
      const differences = await diffDatabases(rt.config.mysqlUrl, left, other);
      if (differences.length === 0) print(`no differences between ${left} and ${other}`);
      else {
        print(`${differences.length} difference(s) between ${left} and ${other}:`);
        for (const d of differences.slice(0, 200)) print(`  ${d}`);
        process.exitCode = 1;
      }
    }),
  );

program
  .command('status')
  .description('services, group members and their partitions, lag per partition, the last flush')
  .action(() =>
    withRuntime(async (rt) => {
      if (!(await status(rt, print))) process.exitCode = 1;
    }),
  );

program
  .command('verify')
  .description('recompute the expected state from the whole requests topic and compare it with MySQL; exit 1 on any difference')
  .option('--no-progress', 'no progress bar')
  .action((o: { progress: boolean }) =>
    withRuntime(async (rt) => {
      const report = await verify(
        { kafka: rt.kafka(), knex: rt.knex(), decoder: rt.registry().decoderFor<RedemptionRequested>('requested') },
        rt.config.redemptionTopic,
        rt.config.maxMessageBytes,
        o.progress,
      );
      print(formatVerifyReport(report));
      if (!report.equal) process.exitCode = 1;
    }),
  );

program
  .command('chaos')
  .description('a load through several consumers while faults strike; then drain, verify and summarise (exit 1 unless equal)')
  .option('--duration <d>', 'how long the load runs (e.g. 90s, 5m)', duration, 300_000)
  .option('--interval <d>', 'time between faults', duration, 15_000)
  .option('--rate <n>', 'requests per second', int(1), 1000)
  .option('--consumers <n>', 'consumer processes at the start', int(1), 2)
  .option('--seed <n>', 'seed of the load and of the fault order', int(0), 7)
  .option('--cleanup', 'remove the run\'s topics, database and Redis keys at the end', false)
  .action(async (o: { duration: number; interval: number; rate: number; consumers: number; seed: number; cleanup: boolean }) => {
    // Loaded on demand: the chaos run and the benchmark are not needed by everyday commands.
    const { formatChaosSummary, runChaos } = await import('../scripts/chaos-run.js');
    const summary = await runChaos({ durationMs: o.duration, intervalMs: o.interval, rate: o.rate, consumers: o.consumers, seed: o.seed, cleanup: o.cleanup, print });
    print(formatChaosSummary(summary));
    if (!summary.verify.equal || summary.produced !== summary.decided + summary.deadLettered) process.exitCode = 1;
  });

program
  .command('bench')
  .description('the benchmark: drain, naive baseline, raw limits, flush cycle, latency, sustained load, recovery; JSON and SVG under bench/results/')
  .option('--requests <n>', 'requests produced ahead for the drain runs', int(1), 200_000)
  .option('--coupons <n>', 'coupons they spread over (skewed toward hot ones)', int(1), 10_000)
  .option('--naive-requests <n>', 'how many of them the naive baseline handles (it is slow)', int(1), 3_000)
  .option('--load-fractions <list>', 'offered load of the latency runs as fractions of the measured drain rate', (v: string) => v.split(',').map((x) => Number(x.trim())), [0.25, 0.5])
  .option('--rates <list>', 'extra fixed offered rates for latency runs, comma-separated', (v: string) => v.split(',').map((x) => int(1)(x.trim())), [] as number[])
  .option('--latency-seconds <n>', 'seconds of load per latency run', int(1), 20)
  .option('--latency-what-if <settings>', 'consumer settings KEY=VALUE,... for one more latency run at 50% (empty skips it)', (v: string) => Object.fromEntries(v.split(',').filter(Boolean).map((kv) => kv.split('=').map((x) => x.trim()) as [string, string])), { FETCH_MAX_WAIT_MS: '10' } as Record<string, string>)
  .option('--sustained-seconds <n>', 'seconds of the sustained run at 50% of drain capacity (600 for the full form; 0 skips it)', int(0), 60)
  .option('--heap-cap-mib <n>', 'V8 old-space cap of the memory-capped drain (0 skips it)', int(0), 128)
  .option('--no-peer', 'skip the Kafka Connect + Debezium JDBC sink peer (it needs Java 17 and Maven)')
  .option('--seed <n>', 'seed of the data', int(0), 42)
  .option('--smoke', 'a few thousand requests, to check the benchmark runs (CI)', false)
  .option('--out <dir>', 'where the JSON and SVG go', 'bench/results')
  .option('--compare <files...>', 'compare two result files (A.json B.json) instead of running: each figure side by side, changes over 10% flagged')
  .action(async (o: { requests: number; coupons: number; naiveRequests: number; loadFractions: number[]; rates: number[]; latencySeconds: number; latencyWhatIf: Record<string, string>; sustainedSeconds: number; heapCapMib: number; peer: boolean; seed: number; smoke: boolean; out: string; compare?: string[] }) => {
    const { smoke, out, compare, heapCapMib, ...rest } = o;
    if (compare) {
      const { compareBenchFiles } = await import('../bench/compare-files.js');
      print(compareBenchFiles(compare));
      return;
    }
    const { runBench, SMOKE } = await import('../bench/run.js');
    const { formatBench } = await import('../bench/report.js');
    const { file, result } = await runBench({ ...rest, heapCapMiB: heapCapMib, ...(smoke ? SMOKE : {}), outDir: out, print: (line) => process.stderr.write(`${line}\n`) });
    print(formatBench(result));
    print(`results: ${file} (charts: ${file.replace(/\.json$/, '.svg')}${result.sustained ? `, ${file.replace(/\.json$/, '-sustained.svg')}` : ''})`);
    if (!result.correct) process.exitCode = 1;
  });

program
  .command('config')
  .description('print the effective configuration, or the settings table as Markdown')
  .option('--markdown', 'the README table of every setting')
  .action((o: { markdown?: boolean }) => {
    if (o.markdown) print(configTableMarkdown());
    else print(JSON.stringify(Runtime.fromEnv().config, null, 2));
  });

program.parseAsync(process.argv).then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`redeem: ${error.message}\n`);
      process.exit(2);
    }
    if (error instanceof InvalidArgumentError) {
      process.stderr.write(`redeem: ${error.message}\n`);
      process.exit(2);
    }
    const mysqlCode = (error as { code?: unknown }).code;
    if (mysqlCode === 'ER_NO_SUCH_TABLE' || mysqlCode === 'ER_BAD_DB_ERROR') {
      process.stderr.write(`redeem: the database in MYSQL_URL is missing or not migrated (${(error as Error).message}); run \`npx redeem migrate\`\n`);
      process.exit(1);
    }
    const message = error instanceof RedemptionError ? `${error.code}: ${error.message}` : error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`redeem: ${message}\n`);
    process.exit(1);
  },
);
