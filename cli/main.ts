/**
 * The `redeem` command line: every command's name, options and help, each handing over to its module in
 * cli/commands/ with the services it needs (program.ts).
 */
import { readFileSync } from 'node:fs';

import { Command, InvalidArgumentError, Option } from 'commander';

import { QUERY_FORMATS, type QueryFormat } from '../analytics/query/format.js';
import { defaultSinkGroup, SINK_DEFAULTS } from '../analytics/sink/options.js';
import { DASHBOARD_DEFAULTS } from '../dashboard/options.js';
import { configTableMarkdown, printableConfig } from '../lib/config.js';
import { DEAD_LETTER_CODES, InputError } from '../lib/errors.js';
import { checkDatabaseName, databaseName } from '../lib/mysql.js';
import { Runtime } from '../lib/runtime.js';
import { DECISIONS, REJECT_REASONS } from '../schemas/types.js';
import type { AuditFilter } from './commands/audit.js';
import type { ServeCommandOptions } from './commands/serve.js';
import { ALL_SERVICES, duration, int, isoDate, PIPELINE_SERVICES, print, runProgram, share, withRuntime, withServices } from './program.js';
import { type Edge, parseWhen, rangeProblem } from './when.js';

// Each command's own modules are imported when that command runs, not here: the tests spawn `redeem`
// hundreds of times, and loading every command's dependencies (DuckDB, Fastify, the dashboard, the
// Parquet sink) for each start cost more CPU than most commands' work.
const program = new Command('redeem').description('The coupon-redemption pipeline: Kafka in, exactly-once effects in MySQL, an audit stream out.');
program.addHelpText(
  'after',
  '\nTools of a checkout (scripts/tools.ts, same command): stack up|down|status, demo, chaos, bench. `redeem stack --help` for theirs.',
);

program
  .command('migrate')
  .description(
    'create the database named in MYSQL_URL if missing and run pending migrations (as MYSQL_ADMIN_URL, which also creates the least-privilege user of MYSQL_URL, when set); register the schemas of the topics, BACKWARD',
  )
  .option('--revoke-other-grants', "with MYSQL_ADMIN_URL: revoke what MYSQL_URL's user holds beyond its database (otherwise that stops migrate)", false)
  .option(
    '--drop-tls-requirement',
    "with MYSQL_ADMIN_URL and no MYSQL_SSL_CA_FILE: let MYSQL_URL's user connect without TLS (otherwise a requirement it has is kept)",
    false,
  )
  .option('--no-registry', 'leave the registry subjects of the topics alone (registered later by the first producer)')
  .action((o: { revokeOtherGrants: boolean; dropTlsRequirement: boolean; registry: boolean }) =>
    withServices([], async (rt) => (await import('./commands/migrate.js')).migrate(rt, print, o)),
  );

const coupons = program.command('coupons').description('the coupon catalogue');
coupons
  .command('import <file>')
  .description('load coupons from a CSV (code,campaign_id,quota,per_user_limit,valid_from,valid_until); a bad file loads nothing')
  .action((file: string) =>
    withServices(['mysql'], async (rt) => {
      const { importCouponsFile } = await import('../lib/coupon-catalog.js');
      const imported = await importCouponsFile(rt.knex(), file);
      print(`imported ${imported} coupons from ${file}`);
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
  .addOption(new Option('--valid-from <time>', 'ISO-8601').argParser(isoDate).default(new Date('2026-01-01T00:00:00Z'), '2026-01-01T00:00:00Z'))
  .addOption(new Option('--valid-until <time>', 'ISO-8601').argParser(isoDate).default(new Date('2027-01-01T00:00:00Z'), '2027-01-01T00:00:00Z'))
  .action((o: { count: number; prefix: string; campaigns: number; quota: number; perUserLimit: number; validFrom: Date; validUntil: Date }) =>
    withServices(['mysql'], async (rt) => {
      const { generateCoupons, upsertCoupons } = await import('../lib/coupon-catalog.js');
      const n = await upsertCoupons(rt.knex(), generateCoupons(o));
      print(`generated ${n} coupons ${o.prefix}-*`);
    }),
  );

program
  .command('produce')
  .description('send RedemptionRequested events: from a JSON-lines file, or a simulated checkout')
  .option('--file <path>', 'one request per line, JSON with the schema field names; - (or a pipe) reads standard input once')
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
    (o: {
      file?: string;
      resume: boolean;
      generate?: number;
      coupons: number;
      couponPrefix: string;
      skew: number;
      retryShare: number;
      refundShare: number;
      users: number;
      seed: number;
      rate?: number;
      progress: boolean;
    }) =>
      withServices(['kafka', 'registry'], async (rt) => {
        if ((o.file === undefined) === (o.generate === undefined)) throw new InvalidArgumentError('give exactly one of --file or --generate');
        const pacing = { rate: o.rate ?? null, progress: o.progress };
        const [{ produceFile, produceSimulation }, { couponCodes }] = await Promise.all([import('./commands/produce.js'), import('../lib/coupon-catalog.js')]);
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
  .option('--exit-when-idle <seconds>', 'exit 0 once the work is done: the group has committed the whole topic and nothing came for this long', int(1))
  .option('--max-wait <seconds>', 'with --exit-when-idle: give up after this long, exit 1 naming the remaining lag per partition', int(1))
  .action((o: { exitWhenIdle?: number; maxWait?: number }) =>
    withServices(PIPELINE_SERVICES, async (rt) => {
      if (o.maxWait !== undefined && o.exitWhenIdle === undefined) throw new InvalidArgumentError('--max-wait needs --exit-when-idle');
      const { consume, formatStats } = await import('./commands/consume.js');
      const stats = await consume(rt, o);
      print(formatStats(stats));
    }),
  );

const audit = program.command('audit').description('the audit stream (RedemptionDecided)');
function oneOf<T extends string>(allowed: readonly T[]) {
  return (value: string): T => {
    if (!allowed.includes(value as T)) throw new InvalidArgumentError(`must be one of ${allowed.join(', ')}`);
    return value as T;
  };
}

/** --since and --until: a date, yesterday/today, a duration ago or an ISO-8601 time (cli/when.ts). */
function when(edge: Edge) {
  return (value: string): Date => {
    const parsed = parseWhen(value, edge);
    if (!(parsed instanceof Date)) throw new InvalidArgumentError(parsed.problem);
    return parsed;
  };
}
const since = when('since');
const until = when('until');
function checkRange(o: { since?: Date; until?: Date }): void {
  const problem = rangeProblem(o.since, o.until);
  if (problem) throw new InputError('INPUT_INVALID', problem);
}
const WHEN_HELP = '2026-12-04, yesterday, today (UTC days), 90s, 30m, 1h, 2d ago, or an ISO-8601 time';
const VERSION_1_NOTE = 'version-1 records carry none, so they never match';

audit
  .command('tail')
  .description('print audit records as JSON lines')
  .option('--coupon <code>', 'only this coupon (only its partition of the audit topic is read)')
  .option('--request-id <id>', 'only this request id of --coupon (its decision and the DUPLICATE records of its retries)')
  .option('--decision <decision>', `only this decision (${DECISIONS.join(', ')})`, oneOf(DECISIONS))
  .option('--reason <reason>', `only this reject reason (${REJECT_REASONS.join(', ')})`, oneOf(REJECT_REASONS))
  .option('--user <id>', `only this user (${VERSION_1_NOTE})`)
  .option('--campaign <id>', `only this campaign (${VERSION_1_NOTE})`)
  .option('--since <when>', `from records received since then: ${WHEN_HELP}`, since)
  .option('--until <when>', `up to records received then (a date: its end), and stop at the end of the topic as it was at start: ${WHEN_HELP}`, until)
  .option('--from-beginning', 'from the oldest record kept, not only new ones', false)
  .option('--exit-when-idle <seconds>', 'exit once no record came for this long', int(1))
  .action((o: AuditFilter & { fromBeginning: boolean; exitWhenIdle?: number }) => {
    checkRange(o);
    if (o.requestId !== undefined && o.coupon === undefined) {
      // As `redeem decision COUPON REQUEST_ID`: the coupon names the request, and its partition is all that is read.
      throw new InvalidArgumentError('--request-id needs --coupon: a request is named by its coupon and its id, and the coupon says which partition to read');
    }
    return withServices(['kafka', 'registry'], async (rt) => {
      const { tailAudit } = await import('./commands/audit.js');
      await tailAudit(rt, { ...o, write: print });
    });
  });
audit
  .command('stats')
  .description('counts by decision and reason, and the top coupons by redemptions applied')
  .addOption(new Option('--since <when>', WHEN_HELP).argParser(since).default(since('1h'), '1h'))
  .option('--until <when>', `up to records received then (a date: its end): ${WHEN_HELP}`, until)
  .option('--user <id>', `only this user (${VERSION_1_NOTE})`)
  .option('--campaign <id>', `only this campaign (${VERSION_1_NOTE})`)
  .option('--top <n>', 'how many coupons to list', int(1), 10)
  .action((o: { since: Date; until?: Date; user?: string; campaign?: string; top: number }) => {
    checkRange(o);
    return withServices(['kafka', 'registry'], async (rt) => {
      const { auditStats, formatAuditStats } = await import('./commands/audit.js');
      print(formatAuditStats(await auditStats(rt, o), o.since, o.until));
    });
  });

audit
  .command('sink')
  .description(
    'land the audit stream as Parquet under DIR (decisions-v1/decided_date=/decided_hour=/), one row per decided source record, resumable (docs/analysts.md)',
  )
  .requiredOption('--to <dir>', 'the folder to land in (made if missing)')
  .option('--follow', 'follow the stream until SIGTERM (the default)')
  .option('--exit-when-idle <seconds>', 'exit once the whole topic is landed and nothing came for this long', int(1))
  .option('--group <name>', 'its consumer group (default: <CONSUMER_GROUP>-audit-sink)')
  .option('--max-rows <n>', 'rows of one chunk at most (one file per hour it touches)', int(1), SINK_DEFAULTS.maxRowsPerChunk)
  .option(
    '--max-wait <duration>',
    'while following, how long a fetch waits for more (a chunk at most this often per partition); default 5s, 500ms with --exit-when-idle',
    duration,
  )
  .action((o: { to: string; follow?: boolean; exitWhenIdle?: number; group?: string; maxRows: number; maxWait?: number }) => {
    if (o.follow && o.exitWhenIdle !== undefined) throw new InvalidArgumentError('--follow and --exit-when-idle exclude each other');
    return withServices(['kafka', 'registry'], async (rt) => {
      const { runAuditSink } = await import('../analytics/sink/sink.js');
      const summary = await runAuditSink(rt, {
        dir: o.to,
        groupId: o.group ?? defaultSinkGroup(rt.config.consumerGroup),
        exitWhenIdle: o.exitWhenIdle,
        maxRowsPerChunk: o.maxRows,
        maxWaitMs: o.maxWait ?? (o.exitWhenIdle === undefined ? SINK_DEFAULTS.maxWaitMs : 500),
      });
      print(
        `landed ${summary.rows} decisions in ${summary.files} files under ${o.to} (${summary.records} audit records read, ${summary.repeats} repeats of decisions already landed skipped)`,
      );
    });
  });

audit
  .command('query [sql]')
  .description('run SQL in an in-process DuckDB over the files audit sink landed: views decisions, coupons, campaigns, coupon_decisions (docs/analysts.md)')
  .option('--dir <dir>', 'the folder audit sink landed in', 'audit-lake')
  .option('--file <file>', 'read the SQL from this file (several statements: each result in turn)')
  .addOption(new Option('--format <format>', 'output').choices(QUERY_FORMATS).default('table'))
  .action((sql: string | undefined, o: { dir: string; file?: string; format: QueryFormat }) => {
    if ((sql === undefined) === (o.file === undefined)) throw new InvalidArgumentError('give the SQL either as an argument or with --file F');
    const text = o.file === undefined ? sql! : readFileSync(o.file, 'utf8');
    return withServices([], async (rt) => {
      const [{ queryLanded }, { formatResult }, { catalogue }] = await Promise.all([
        import('../analytics/query/query.js'),
        import('../analytics/query/format.js'),
        import('../lib/coupon-catalog.js'),
      ]);
      const results = await queryLanded({ dir: o.dir, sql: text, loadCatalogue: () => catalogue(rt.knex()) });
      print(
        results
          // A statement with no result columns (SET, CREATE) prints nothing.
          .filter((r) => r.columns.length > 0)
          .map((r) => formatResult(r, o.format))
          .join(o.format === 'json' ? '\n' : '\n\n'),
      );
    });
  });

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
  .option(
    '--max-wait <seconds>',
    'wait this long at most for the live group to pass the range and for the replay to finish; then exit 1 naming the lag',
    int(1),
  )
  .option('--no-progress', 'no progress bar')
  .action(
    (o: {
      fromTimestamp?: Date;
      toTimestamp?: Date;
      fromOffsets?: Map<number, number>;
      rate?: number;
      group?: string;
      dryRun: boolean;
      progress: boolean;
      maxWait?: number;
    }) =>
      withServices(PIPELINE_SERVICES, async (rt) => {
        const { formatDryRunChanges, formatStats } = await import('./commands/consume.js');
        const { replay } = await import('./commands/replay.js');
        const stats = await replay(rt, { ...o, rate: o.rate ?? null });
        print(`${o.dryRun ? 'dry run, nothing written: ' : ''}replayed ${stats.messages} messages`);
        if (o.dryRun) print(formatDryRunChanges(stats));
        print(formatStats(stats));
      }),
  );

program
  .command('rebuild')
  .description('rebuild the whole MySQL state from the requests topic into a fresh database (coupon terms copied from the live one)')
  .requiredOption('--into <database>', 'the fresh database to build')
  .option('--rate <n>', 'messages per second at most', int(1))
  .option('--max-wait <seconds>', 'give up after this long, exit 1 naming the lag per partition', int(1))
  .option('--no-progress', 'no progress bar')
  .action((o: { into: string; rate?: number; progress: boolean; maxWait?: number }) =>
    withServices(PIPELINE_SERVICES, async (rt) => {
      checkDatabaseName(o.into, '--into');
      const { formatStats } = await import('./commands/consume.js');
      const { rebuild } = await import('./commands/replay.js');
      const stats = await rebuild(rt, o.into, { rate: o.rate ?? null, progress: o.progress, maxWait: o.maxWait });
      print(`rebuilt ${o.into} from ${stats.messages} messages`);
      print(formatStats(stats));
      print(`compare with: npm run redeem -- diff ${o.into}`);
    }),
  );

program
  .command('diff <database> [other]')
  .description('compare coupon counts and redemption rows of two databases (other: the one in MYSQL_URL); exit 1 when they differ')
  .action((left: string, right: string | undefined) =>
    withServices(['mysql'], async (rt) => {
      checkDatabaseName(left, 'diff: the first');
      const other = right === undefined ? databaseName(rt.config.mysqlUrl) : checkDatabaseName(right, 'diff: the second');
      if (left === other)
        throw new InputError('INPUT_INVALID', `diff: both sides are ${left}; name two different databases (the second defaults to the one in MYSQL_URL)`);
      const { diffDatabases } = await import('./commands/diff.js');
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
  .command('cleanup')
  .description("remove this namespace's topics, consumer groups, database, Redis keys and registry subjects; shows them and asks first")
  .option('--yes', 'remove without asking (needed where standard input is not a terminal)', false)
  .action((o: { yes: boolean }) => withServices(ALL_SERVICES, async (rt) => (await import('./commands/cleanup.js')).cleanup(rt, o, print)));

program
  .command('serve')
  .description('the HTTP entry for checkouts: POST /v1/redemptions[?wait=MS], GET /v1/redemptions/{coupon}/{request_id}, /openapi.json, /healthz, /readyz')
  .option('--host <host>', 'address to bind; anything but loopback needs --token-file', '127.0.0.1')
  .option('--port <port>', 'port to listen on (0: any free one)', int(0), 8080)
  .option('--token-file <file>', 'bearer tokens, one per line (required unless bound to loopback)')
  .option('--tls-key <file>', 'TLS private key (PEM): serve HTTPS')
  .option('--tls-cert <file>', 'TLS certificate chain (PEM)')
  .option('--body-limit <bytes>', 'largest request body; larger ones get 413', int(256), 16_384)
  .option('--max-wait <ms>', 'longest ?wait honoured', int(0), 30_000)
  .action(async (o: ServeCommandOptions) => {
    const { checkServeOptions, serve } = await import('./commands/serve.js');
    const tokens = checkServeOptions(o);
    return withServices(['kafka', 'registry', 'mysql'], (rt) => serve(rt, o, tokens, print));
  });

program
  .command('decision <coupon> <request_id>')
  .description('print the decision stored in MySQL for a request (JSON); exit 1 when there is none yet')
  .action((coupon: string, requestId: string) =>
    withServices(['mysql'], async (rt) => {
      const { findDecision } = await import('../lib/decision-lookup.js');
      const decision = await findDecision(rt.knex(), coupon, requestId);
      if (decision === null)
        throw new InputError('INPUT_INVALID', `no decision stored for request ${requestId} of coupon ${coupon}: not decided yet, or never sent`);
      print(JSON.stringify(decision));
    }),
  );

program
  .command('status')
  .description('services, group members and their partitions, lag per partition, the last flush')
  .action(() =>
    withServices([], async (rt) => {
      const { status } = await import('./commands/status.js');
      if (!(await status(rt, print))) process.exitCode = 1;
    }),
  );

program
  .command('dashboard')
  .description(
    'serve a live page of the pipeline: decisions/s by outcome, lag per partition, dead letters, top coupons, rebalances, latency by stage, members (docs/operations.md)',
  )
  .option('--host <address>', 'listen address (the page is unauthenticated: loopback unless widened)', DASHBOARD_DEFAULTS.host)
  .option('--port <n>', 'port (0: any free one)', int(0), DASHBOARD_DEFAULTS.port)
  .option(
    '--metrics <urls>',
    "the consumers' ops servers to scrape, comma-separated (e.g. http://127.0.0.1:9464)",
    (v: string) => v.split(',').filter(Boolean),
    [],
  )
  .option('--interval <duration>', 'how often the figures update', duration, DASHBOARD_DEFAULTS.intervalMs)
  .action((o: { host: string; port: number; metrics: string[]; interval: number }) =>
    withServices(['kafka', 'mysql'], async (rt) => {
      const [{ withAdmin }, { StopRequest }, { startDashboard }] = await Promise.all([
        import('../lib/kafka.js'),
        import('./stop-request.js'),
        import('../dashboard/server.js'),
      ]);
      return withAdmin(rt.kafka('redeem-dashboard'), async (admin) => {
        const stop = new StopRequest('nothing is left behind');
        const dashboard = await startDashboard(rt, admin, { host: o.host, port: o.port, metrics: o.metrics, intervalMs: o.interval });
        print(`dashboard on ${dashboard.url} (Ctrl-C to stop)`);
        await stop.stopped;
        stop.dispose();
        await dashboard.close();
      });
    }),
  );

const dlq = program.command('dlq').description('the dead-letter topic (<REDEMPTION_TOPIC>.dlq)');
dlq
  .command('redrive')
  .description("send dead letters' requests again through the project's producer, each at most once, in the order first produced")
  .option('--code <code>', `only dead letters with this code (${DEAD_LETTER_CODES.join(', ')})`, oneOf(DEAD_LETTER_CODES))
  .option('--since <when>', `only dead letters the dead-letter topic received since then: ${WHEN_HELP}`, since)
  .option('--dry-run', 'report what would be sent, send nothing', false)
  .option('--no-progress', 'no progress bar')
  .action((o: { code?: string; since?: Date; dryRun: boolean; progress: boolean }) =>
    withServices(['kafka', 'registry'], async (rt) => {
      const { formatRedriveSummary, redrive } = await import('./commands/dlq.js');
      print(formatRedriveSummary(await redrive(rt, o)));
    }),
  );

program
  .command('verify')
  .description('recompute the expected state from the whole requests topic and compare it with MySQL and the audit stream; exit 1 on any difference')
  .option('--no-progress', 'no progress bar')
  .action((o: { progress: boolean }) =>
    withServices(['kafka', 'registry', 'mysql'], async (rt) => {
      const { verifyCommand } = await import('./commands/verify.js');
      if (!(await verifyCommand(rt, o, print))) process.exitCode = 1;
    }),
  );

program
  .command('acls')
  .description(
    "the Kafka ACLs of the pipeline's identities for this configuration's topics and group (kafka-acls.sh commands) and the Redis runtime user's ACL; --apply creates the Kafka ones and the topics (as an administrator)",
  )
  .option('--apply', 'create the topics and the ACLs through KAFKA_* (a super user) instead of printing them', false)
  .option('--checkout <user>', 'the checkout principal (writes requests, reads decisions)', 'checkout')
  .option('--consumer <user>', 'the consumer principal (reads requests, writes audit and dead letters)', 'consumer')
  .option('--analyst <user>', 'the analyst principal (reads the audit stream)', 'analyst')
  .option('--operator <user>', 'the operator principal (replay, dlq redrive, verify)', 'operator')
  .option('--redis-user <user>', "the Redis runtime user in the printed ACL SETUSER (its keys: REDIS_KEY_PREFIX's)", 'redeem')
  .action(async (o: { apply: boolean; checkout: string; consumer: string; analyst: string; operator: string; redisUser: string }) => {
    const { acls } = await import('./commands/acls.js');
    return o.apply ? withServices(['kafka'], (rt) => acls(rt, o, print)) : withRuntime((rt) => acls(rt, o, print));
  });

program
  .command('config')
  .description('print the effective configuration, or the settings table as Markdown')
  .option('--markdown', 'the table of every setting in docs/configuration.md')
  .action((o: { markdown?: boolean }) => {
    if (o.markdown) print(configTableMarkdown());
    else print(JSON.stringify(printableConfig(Runtime.fromEnv().config), null, 2));
  });

runProgram(program);
