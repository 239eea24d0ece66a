/**
 * The tools of a checkout, run through the same `redeem` command (bin/redeem.mjs sends these commands
 * here): the local stack, the demo, the chaos run and the benchmark. They use the product; the product
 * never uses them (a lint rule holds that).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Command, Option } from 'commander';

import { type BenchOptions, CONSUMER_FROM, parseLoadFractions, parseRates, parseStages, STAGE_NAMES } from '../bench/options.js';
import { duration, int, print, runProgram, withRuntime } from '../cli/program.js';
import { RedemptionError } from '../lib/errors.js';
import { demo } from './demo.js';
import { stackDown, stackStatus, stackUp } from './stack/stack.js';

const program = new Command('redeem').description('Tools of the coupon-redemption pipeline: the local stack, the demo, the chaos run, the benchmark.');

const stack = program.command('stack').description('the local Kafka, schema registry, Redis and MySQL');
stack
  .command('up')
  .description('start what is not running (idempotent)')
  .option(
    '--secure',
    'also a SASL_SSL broker (SCRAM-SHA-512 over TLS, ACLs for the identities checkout, consumer, analyst, operator) on its own ports (STACK_SECURE_KAFKA_PORT, default 9094); client settings in .stack/kafka-secure/<identity>.env',
    false,
  )
  .option('--kafka-nodes <n>', 'also a replicated Kafka cluster of 3 KRaft nodes on 19092-19094 (1 = the single node only)', int(1), 1)
  .option('--redis-cluster', 'also a Redis Cluster of 3 masters and 3 replicas on 7000-7005', false)
  .action(async (o: { secure: boolean; kafkaNodes: number; redisCluster: boolean }) => {
    if (o.kafkaNodes !== 1 && o.kafkaNodes !== 3) throw new RedemptionError('INPUT_INVALID', `--kafka-nodes must be 1 or 3, got ${o.kafkaNodes}`);
    await stackUp(print, { secure: o.secure });
    if (o.kafkaNodes === 1 && !o.redisCluster) return;
    // The cluster profile runs beside the single-node stack (the schema registry, MySQL and the default
    // stack stay as they are); its processes and folders are its own.
    const { clusterUp } = await import('./stack/cluster-profile.js');
    await clusterUp({ kafka: o.kafkaNodes === 3, redis: o.redisCluster }, print);
  });
stack
  .command('down')
  .description('stop what `stack up` started')
  .action(async () => {
    await (await import('./stack/cluster-profile.js')).clusterDown(print);
    await stackDown(print);
  });
stack
  .command('status')
  .description('each component, its address and whether it answers')
  .action(async () => {
    const rows = [...(await stackStatus()), ...(await (await import('./stack/cluster-profile.js')).clusterStatus())];
    for (const r of rows) print(`${r.component.padEnd(10)} ${r.address.padEnd(16)} ${(r.up ? 'up' : 'DOWN').padEnd(5)} ${r.managed}`);
    if (rows.some((r) => !r.up)) process.exitCode = 1;
  });

program
  .command('demo')
  .description('quick start: stack up, migrate, demo coupons, a checkout burst, consume it, summary')
  .option('--requests <n>', 'checkout requests to simulate', int(1), 20000)
  .option('--coupons <n>', 'demo coupons', int(1), 200)
  .option('--seed <n>', 'simulation seed (default: a new one each run, so each run adds new requests)', int(0))
  .action((o: { requests: number; coupons: number; seed?: number }) => {
    // The demo is read by a person: its progress bars and summary stay on the terminal, the logs
    // (KafkaJS's warnings among them) go to a file it names.
    const logFile = join(tmpdir(), `redeem-demo-${Date.now()}.log`);
    print(`logs: ${logFile}`);
    return withRuntime((rt) => demo(rt, { ...o, seed: o.seed ?? Date.now() % 1_000_000_000 }, print), { logFile });
  });

program
  .command('chaos')
  .description('a load through several consumers while faults strike; then drain, verify and summarise (exit 1 unless equal)')
  .addOption(new Option('--duration <d>', 'how long the load runs (e.g. 90s, 5m)').argParser(duration).default(300_000, '5m'))
  .addOption(new Option('--interval <d>', 'time between faults').argParser(duration).default(15_000, '15s'))
  .option('--rate <n>', 'requests per second', int(1), 1000)
  .option('--consumers <n>', 'consumer processes at the start', int(1), 2)
  .option('--seed <n>', 'seed of the load and of the fault order', int(0), 7)
  .option('--cleanup', "remove the run's topics, database and Redis keys at the end", false)
  .option(
    '--faults <kinds>',
    'comma-separated kinds to strike (default: those touching only what the run owns: kill-9-consumer, add-consumer, stop-consumer, flush-redis, restart-redis, pause-mysql); restart-kafka and the cluster kinds strike services others may use and run only when named here',
    (v: string) =>
      v
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean),
  )
  .option(
    '--no-own-servers',
    "use the configured Redis and MySQL instead of a redis-server and mariadbd of the run's own (its Redis and MySQL faults then need --faults)",
  )
  .action(
    async (o: {
      duration: number;
      interval: number;
      rate: number;
      consumers: number;
      seed: number;
      cleanup: boolean;
      faults?: string[];
      ownServers: boolean;
    }) => {
      // Loaded on demand: each is heavy and only one of them runs.
      const { formatChaosSummary, runChaos } = await import('./chaos-run.js');
      const summary = await runChaos({
        durationMs: o.duration,
        intervalMs: o.interval,
        rate: o.rate,
        consumers: o.consumers,
        seed: o.seed,
        cleanup: o.cleanup,
        print,
        faults: o.faults,
        ownServers: o.ownServers,
      });
      print(formatChaosSummary(summary));
      if (!summary.verify.equal || summary.produced !== summary.decided + summary.deadLettered) process.exitCode = 1;
    },
  );

program
  .command('bench')
  .description(
    'the benchmark: drain, naive baseline, raw limits, flush cycle, latency, sustained load, checkout answers (redeem(), HTTP), recovery; JSON and SVG under bench/results/',
  )
  .option('--requests <n>', 'requests produced ahead for the drain runs', int(1), 200_000)
  .option('--coupons <n>', 'coupons they spread over (skewed toward hot ones)', int(1), 10_000)
  .option('--naive-requests <n>', 'how many of them the naive baseline handles (it is slow)', int(1), 3_000)
  .option(
    '--load-fractions <list>',
    'offered load of the latency runs as fractions of the measured drain rate (empty: none)',
    parseLoadFractions,
    [0.1, 0.25, 0.5, 0.75],
  )
  .option('--rates <list>', 'extra fixed offered rates for latency runs, comma-separated', parseRates, [] as number[])
  .option('--latency-seconds <n>', 'seconds of load per latency run', int(1), 20)
  .option(
    '--latency-warmup-seconds <n>',
    "seconds of the same load before each latency run's measured seconds (a fresh consumer's start), reported apart; 0 measures from the start",
    int(0),
    10,
  )
  .option(
    '--latency-what-if <settings>',
    'consumer settings KEY=VALUE,... for one more latency run at 50% (empty skips it)',
    (v: string) =>
      Object.fromEntries(
        v
          .split(',')
          .filter(Boolean)
          .map((kv) => kv.split('=').map((x) => x.trim()) as [string, string]),
      ),
    { FETCH_MAX_WAIT_MS: '10' } as Record<string, string>,
  )
  .option('--sustained-seconds <n>', 'seconds of the sustained run at 50% of drain capacity (600 for the full form; 0 skips it)', int(0), 60)
  .option('--checkout-fraction <x>', "offered load of the checkout stage's waits (redeem(), POST ?wait) as a fraction of the measured drain rate", Number, 0.5)
  .option('--checkout-seconds <n>', "seconds of each of the checkout stage's loads (redeem(), POST ?wait, HTTP intake without wait)", int(1), 20)
  .option('--heap-cap-mib <n>', 'V8 old-space cap of the memory-capped drain (0 skips it)', int(0), 192)
  .option(
    '--mysql-buffer-pool-mib <n>',
    "InnoDB buffer pool the run grows the MySQL server's to when it is smaller (SET GLOBAL, put back at the end); 0 leaves the server as it is",
    int(0),
    2048,
  )
  .option(
    '--mysql-redo-log-mib <n>',
    "InnoDB redo log the run grows the MySQL server's to when it is smaller (SET GLOBAL, put back at the end); 0 leaves the server as it is",
    int(0),
    1024,
  )
  .option('--no-peer', 'skip the Kafka Connect + Debezium JDBC sink peer (it needs Java 17 and Maven)')
  .addOption(
    new Option('--consumer-from <how>', 'what the consumer processes run: a tsc build of this checkout, as a deployment runs it, or the source through tsx')
      .choices(CONSUMER_FROM)
      .default('compiled'),
  )
  .option('--seed <n>', 'seed of the data', int(0), 42)
  .option('--smoke', 'a few thousand requests, to check the benchmark runs (CI)', false)
  .option('--out <dir>', 'where the JSON and SVG go', 'bench/results')
  .option(
    '--only <stages>',
    `run only these stages, comma-separated (${STAGE_NAMES.join(', ')}), and what they need (latency, sustained and checkout: the 1-process drain; latency: the flush cycle)`,
    parseStages,
  )
  .option(
    '--remove-leftovers',
    'instead of running: remove what bench runs that did not end (killed) left: their topics, databases, Redis keys and consumer builds (every run also does at its start)',
    false,
  )
  .option('--compare <files...>', 'compare two result files (A.json B.json) instead of running: each figure side by side, changes over 10% flagged')
  .option(
    '--query [decisions]',
    'instead of the pipeline stages: `audit query` over this many landed decisions (generated; default 1000000), each example question timed',
    int(1),
  )
  .action(
    async (
      o: Omit<BenchOptions, 'heapCapMiB' | 'mysqlBufferPoolMiB' | 'mysqlRedoLogMiB' | 'outDir' | 'print' | 'recoverySessionTimeoutMs'> & {
        heapCapMib: number;
        mysqlBufferPoolMib: number;
        mysqlRedoLogMib: number;
        smoke: boolean;
        out: string;
        compare?: string[];
        query?: number | true;
        removeLeftovers: boolean;
      },
    ) => {
      const { smoke, out, compare, heapCapMib, mysqlBufferPoolMib, mysqlRedoLogMib, query, removeLeftovers, ...rest } = o;
      if (removeLeftovers) {
        const { removeBenchLeftovers } = await import('../bench/run.js');
        const removed = await removeBenchLeftovers((line) => process.stderr.write(`${line}\n`));
        print(removed === 0 ? 'no bench run left a namespace behind' : `removed the namespaces of ${removed} bench run(s) that did not end`);
        return;
      }
      if (query !== undefined) {
        const { queryStage, formatQueryRun } = await import('../bench/stages/query.js');
        print(formatQueryRun(await queryStage((line) => process.stderr.write(`${line}\n`), query === true ? undefined : query)));
        return;
      }
      if (compare) {
        const { compareBenchFiles } = await import('../bench/compare-files.js');
        print(compareBenchFiles(compare));
        return;
      }
      const { runBench, SMOKE } = await import('../bench/run.js');
      const { formatBench } = await import('../bench/report.js');
      const { isComplete } = await import('../bench/result.js');
      const { file, result } = await runBench({
        ...rest,
        heapCapMiB: heapCapMib,
        mysqlBufferPoolMiB: mysqlBufferPoolMib,
        mysqlRedoLogMiB: mysqlRedoLogMib,
        ...(smoke ? SMOKE : {}),
        outDir: out,
        print: (line) => process.stderr.write(`${line}\n`),
      });
      print(formatBench(result));
      const charts = [...(isComplete(result) ? ['.svg'] : []), ...(result.sustained ? ['-sustained.svg'] : [])].map((end) => file.replace(/\.json$/, end));
      print(`results: ${file}${charts.length > 0 ? ` (charts: ${charts.join(', ')})` : ''}`);
      if (!result.correct) process.exitCode = 1;
    },
  );

runProgram(program);
