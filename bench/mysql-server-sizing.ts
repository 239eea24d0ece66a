/**
 * The MySQL server's InnoDB sizing for a bench run: its buffer pool and its redo log. The
 * distribution's defaults (a 128 MiB pool, a 96 MiB redo log) are for a small machine: at 10,000
 * requests/s the decisions and redemptions outgrow the pool within a minute, and every flush's key lookups
 * read pages it evicted; the redo log fills every few seconds, and InnoDB writes dirty pages back in a
 * hurry to free it. The sustained run then measures the server's sizing, not the pipeline (180 s at 50%
 * of the drain rate, 2026-12-06: MySQL stage 62 ms mean and p99 566 ms with 128 MiB, 20 ms and 212 ms
 * with a 2 GiB pool; see docs/performance.md for the redo log). A deployment sizes both to its write
 * rate and working set (docs/deployment.md); the run does the same for its own, and puts the server back
 * as it found it.
 */
import type { Connection } from 'mysql2/promise';

import { withServerConnection } from '../lib/mysql.js';
import { setGlobal, SettingsLedger, showGlobal } from './mysql-globals.js';

/** What a run asks of the server (MiB; 0 leaves a setting as it is). */
export interface SizingWanted {
  bufferPoolMiB: number;
  redoLogMiB: number;
}

/** What the run had (MiB), for its result. */
export interface Sizing {
  bufferPoolMiB: number;
  redoLogMiB: number | null;
}

export interface ServerSizing {
  during: Sizing;
  /** Puts every setting the run changed back to its size before the run. */
  restore(): Promise<void>;
}

const MIB = 2 ** 20;

/**
 * The redo log's size: MySQL 8.0.30 and later size it as innodb_redo_log_capacity, MariaDB (10.9 on
 * online) as innodb_log_file_size; the first the server has.
 */
const REDO_LOG_VARIABLES = ['innodb_redo_log_capacity', 'innodb_log_file_size'];

async function variableMiB(c: Connection, names: readonly string[]): Promise<{ name: string; mib: number } | null> {
  for (const name of names) {
    const bytes = await showGlobal(c, 'VARIABLES', name);
    if (bytes !== null) return { name, mib: Math.round(bytes / MIB) };
  }
  return null;
}

const setMiB = (c: Connection, name: string, mib: number) => setGlobal(c, name, mib * MIB);

/**
 * Grows one setting to `wantMiB` when it is smaller (never shrinks it; 0 leaves it). A server that
 * refuses (no privilege for SET GLOBAL, a managed MySQL, a version where it is not dynamic) keeps its
 * size, and the run says so: its sustained figures then stand for that size.
 */
async function grow(
  c: Connection,
  mysqlUrl: string,
  ledger: SettingsLedger,
  what: string,
  names: readonly string[],
  wantMiB: number,
  print: (line: string) => void,
): Promise<{ mib: number | null; restore: () => Promise<void> }> {
  const found = await variableMiB(c, names);
  const unchanged = { mib: found?.mib ?? null, restore: async () => {} };
  if (!found || wantMiB === 0 || found.mib >= wantMiB) return unchanged;
  ledger.noteBefore(found.name, found.mib * MIB);
  try {
    await setMiB(c, found.name, wantMiB);
  } catch (error) {
    ledger.putBack(found.name);
    print(`MySQL ${what}: kept at ${found.mib} MiB, the server refused ${wantMiB} MiB (${(error as Error).message})`);
    return unchanged;
  }
  // A resize runs in the server's background: the size it reports is the one it settled on.
  const now = (await variableMiB(c, [found.name]))?.mib ?? wantMiB;
  print(`MySQL ${what} (${found.name}): ${found.mib} MiB -> ${now} MiB for this run (put back at the end)`);
  return {
    mib: now,
    // On a connection of its own: the run's end may be long after this one.
    restore: () =>
      withServerConnection(mysqlUrl, (later) => setMiB(later, found.name, found.mib)).then(
        () => ledger.putBack(found.name),
        (error: Error) =>
          print(`MySQL ${what}: could not put it back to ${found.mib} MiB (${error.message}); it stays at ${now} MiB until the next run puts it back`),
      ),
  };
}

/** Sizes the server's buffer pool and redo log for the run (`--mysql-buffer-pool-mib`, `--mysql-redo-log-mib`). */
export async function sizeServer(
  mysqlUrl: string,
  wanted: SizingWanted,
  print: (line: string) => void,
  ledger = SettingsLedger.forServer(mysqlUrl),
): Promise<ServerSizing> {
  const [pool, redo] = await withServerConnection(mysqlUrl, async (c) => [
    await grow(c, mysqlUrl, ledger, 'buffer pool', ['innodb_buffer_pool_size'], wanted.bufferPoolMiB, print),
    await grow(c, mysqlUrl, ledger, 'redo log', REDO_LOG_VARIABLES, wanted.redoLogMiB, print),
  ]);
  return {
    during: { bufferPoolMiB: pool.mib ?? 0, redoLogMiB: redo.mib },
    restore: async () => {
      await redo.restore();
      await pool.restore();
    },
  };
}
