/**
 * Before a stage whose figure a ratio compares (the drain, the raw stages, the peer), InnoDB writes back
 * the pages earlier stages left dirty, so that each of them starts from the same server state.
 *
 * MariaDB (10.5 on, with innodb_max_dirty_pages_pct_lwm 0, its default) does not write dirty pages back
 * while the server is idle: it waits until the redo log nears its async point. Measured 2026-12-06 with
 * SHOW ENGINE INNODB STATUS every 5 s through a full run (1 GiB redo log): the checkpoint age was 0 at
 * the drain, grew with every stage, reached about 725 MiB in the sustained run and stayed at 560-720 MiB
 * to the end of the run, so the peer, the run's last stage, upserted while the server wrote back the
 * sustained run's pages (11,189 rows/s, against 16,336 in the run an hour before on the same host).
 */
import type { Connection } from 'mysql2/promise';

import { withServerConnection } from '../lib/mysql.js';
import { setGlobal, SettingsLedger, showGlobal } from './mysql-globals.js';

export interface WriteBack {
  /** Dirty pages when the wait began, and when it ended. */
  pagesBefore: number;
  pagesAfter: number;
  seconds: number;
}

const dirtyPages = async (c: Connection) => (await showGlobal(c, 'STATUS', 'Innodb_buffer_pool_pages_dirty')) ?? Number.NaN;
const variable = async (c: Connection, name: string) => (await showGlobal(c, 'VARIABLES', name)) ?? Number.NaN;

/**
 * Lowers innodb_max_dirty_pages_pct to 0 and raises innodb_io_capacity to innodb_io_capacity_max (the
 * page cleaner then writes back all it can, as fast as the server allows: at the default capacity of 200
 * it wrote about 175 pages a second here), waits until at most `settledPages` pages are dirty or
 * `timeoutMs` passed or `signal` aborts (a run stopped with Ctrl-C), and puts both settings back (noted
 * in the `ledger` meanwhile, for the next run to put back if this one is killed: mysql-globals.ts). A server
 * that refuses SET GLOBAL, or has no such status (not InnoDB), is left as it is: null, and the caller
 * says so.
 */
export async function writeBackDirtyPages(
  mysqlUrl: string,
  timeoutMs = 120_000,
  settledPages = 1_000,
  signal?: AbortSignal,
  ledger = SettingsLedger.forServer(mysqlUrl),
): Promise<WriteBack | null> {
  return withServerConnection(mysqlUrl, async (c) => {
    const pagesBefore = await dirtyPages(c);
    if (!Number.isFinite(pagesBefore)) return null;
    const started = performance.now();
    if (pagesBefore <= settledPages) return { pagesBefore, pagesAfter: pagesBefore, seconds: 0 };
    const keptPct = await variable(c, 'innodb_max_dirty_pages_pct');
    const keptCapacity = await variable(c, 'innodb_io_capacity');
    const maxCapacity = await variable(c, 'innodb_io_capacity_max');
    // What this wait changed, with the value it found: only these are put back, and only these stay
    // noted. A setting the server refused was never changed; noted, the next run would fail putting it back.
    const changed: [name: string, kept: number][] = [];
    const change = async (name: string, to: number, kept: number) => {
      ledger.noteBefore(name, kept);
      try {
        await setGlobal(c, name, to);
      } catch (error) {
        ledger.putBack(name);
        throw error;
      }
      changed.unshift([name, kept]);
    };
    const putBack = async () => {
      for (const [name, kept] of changed) {
        await setGlobal(c, name, kept);
        ledger.putBack(name);
      }
    };
    try {
      await change('innodb_max_dirty_pages_pct', 0, keptPct);
      if (maxCapacity > keptCapacity) await change('innodb_io_capacity', maxCapacity, keptCapacity);
    } catch {
      await putBack().catch(() => {});
      return null;
    }
    try {
      let pages = pagesBefore;
      while (pages > settledPages && performance.now() - started < timeoutMs && !signal?.aborted) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        pages = await dirtyPages(c);
      }
      return { pagesBefore, pagesAfter: pages, seconds: (performance.now() - started) / 1000 };
    } finally {
      await putBack();
    }
  });
}
