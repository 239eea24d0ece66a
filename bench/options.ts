/**
 * The benchmark's options and its stages' names. Everything is measured in the same run, on the same
 * data, so that each figure is read against a baseline of this host at this moment (the machine is
 * shared; absolute figures move).
 */

import { InvalidArgumentError } from 'commander';

/** The stages, in the order a full run takes them (`bench --only` runs a subset, in this order). */
export const STAGE_NAMES = ['drain', 'memory', 'naive', 'raw', 'cycle', 'latency', 'sustained', 'checkout', 'recovery', 'peer'] as const;
export type StageName = (typeof STAGE_NAMES)[number];

/** What the consumer processes run: a tsc build of the checkout (bench/consumer-entry.ts), or the source through tsx. */
export const CONSUMER_FROM = ['compiled', 'source'] as const;
export type ConsumerFrom = (typeof CONSUMER_FROM)[number];

export interface BenchOptions {
  requests: number;
  coupons: number;
  naiveRequests: number;
  /** offered load of the latency runs, as fractions of the measured 1-process drain rate */
  loadFractions: number[];
  /** extra offered rates (requests/s) for latency runs, besides the fractions */
  rates: number[];
  latencySeconds: number;
  /**
   * seconds of the same load before each latency run's measured seconds, reported apart: a fresh
   * consumer process's first seconds are its start (code interpreted, caches cold), not the load
   */
  latencyWarmupSeconds: number;
  /** consumer settings (KEY=VALUE) for one more latency run at 50%, to show what the defaults cost in latency; empty skips it */
  latencyWhatIf: Record<string, string>;
  /** the sustained run at 50% of drain capacity; 0 skips it */
  sustainedSeconds: number;
  /** offered load of the checkout stage's waits, as a fraction of the measured 1-process drain rate */
  checkoutFraction: number;
  /** seconds of each of the checkout stage's three loads (redeem(), POST ?wait, intake without wait) */
  checkoutSeconds: number;
  /** V8 old-space cap (MiB) of the memory-capped drain; 0 skips it */
  heapCapMiB: number;
  /** the InnoDB buffer pool (MiB) the run grows the MySQL server's to when it is smaller, put back after; 0 leaves it (mysql-server-sizing.ts) */
  mysqlBufferPoolMiB: number;
  /** the InnoDB redo log (MiB), likewise */
  mysqlRedoLogMiB: number;
  /** run the Kafka Connect + Debezium JDBC sink peer on the same topic */
  peer: boolean;
  /** what the consumer processes run: a tsc build of the checkout, as deployed (`compiled`), or the source through tsx */
  consumerFrom: ConsumerFrom;
  /** group session timeout of the recovery run's consumers; undefined = the configured one */
  recoverySessionTimeoutMs?: number;
  /** run only these stages (and what they need: the 1-process drain, the flush cycle); undefined = all */
  only?: StageName[];
  seed: number;
  outDir: string;
  print(line: string): void;
}

export const SMOKE: Partial<BenchOptions> = {
  requests: 4000,
  coupons: 200,
  naiveRequests: 500,
  loadFractions: [0.5],
  rates: [],
  latencySeconds: 3,
  latencyWarmupSeconds: 1,
  latencyWhatIf: {},
  sustainedSeconds: 3,
  // The smoke run checks that every request is answered, decided and checked: a few hundred suffice.
  checkoutFraction: 0.05,
  checkoutSeconds: 2,
  heapCapMiB: 128,
  // A few thousand rows fit any pool; and the suite's other files share the server.
  mysqlBufferPoolMiB: 0,
  mysqlRedoLogMiB: 0,
  // Java, Maven and a JVM start are not what the smoke run checks.
  peer: false,
  // The smoke run checks that recovery is measured, not how long the configured timeout is.
  recoverySessionTimeoutMs: 6000,
};

/** Parses `--only latency,raw`: the stage names, each known, in the order given. */
export function parseStages(list: string): StageName[] {
  const names = listItems(list);
  const unknown = names.filter((n) => !(STAGE_NAMES as readonly string[]).includes(n));
  if (unknown.length > 0 || names.length === 0)
    throw new InvalidArgumentError(
      `must be stages of ${STAGE_NAMES.join(', ')}, comma-separated; ${unknown.length > 0 ? `unknown: ${unknown.join(', ')}` : 'none given'}`,
    );
  return names as StageName[];
}

/**
 * Parses `--load-fractions 0.25,0.5`: each a fraction of the measured drain rate, over 0 and at most 1
 * (above it the consumer cannot keep up by definition, and the run would end at its deadline). Empty
 * means none: `--load-fractions ''` once ran a latency run at 1/s (`Number('')` is 0).
 */
export function parseLoadFractions(list: string): number[] {
  return listItems(list).map((item) => {
    const n = Number(item);
    if (!Number.isFinite(n) || n <= 0 || n > 1) throw new InvalidArgumentError(`must be fractions over 0 and at most 1, comma-separated; not: ${item}`);
    return n;
  });
}

/** Parses `--rates 5000,9000`: requests per second, each a whole number >= 1; empty means none. */
export function parseRates(list: string): number[] {
  return listItems(list).map((item) => {
    if (!/^\d+$/.test(item) || Number(item) < 1) throw new InvalidArgumentError(`must be whole numbers >= 1, comma-separated; not: ${item}`);
    return Number(item);
  });
}

/** The items of a comma-separated option, trimmed, empty ones left out. */
function listItems(list: string): string[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
