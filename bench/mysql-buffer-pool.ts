/**
 * The MySQL server's InnoDB buffer pool for a bench run. The distribution's default (128 MiB) holds the
 * decisions and redemptions of about half a minute at 10,000 requests/s: past that, every flush's key
 * lookups read pages the pool has evicted, and the sustained run measures the pool, not the pipeline
 * (180 s at 50% of the drain rate: MySQL stage 62 ms mean and p99 566 ms with 128 MiB, 20 ms and 212 ms
 * with 2 GiB, 2026-12-06). A deployment sizes the pool to its working set (docs/operations.md); the run
 * does the same for its own, and puts the server back as it found it.
 */
import type { RowDataPacket } from 'mysql2';

import { withServerConnection } from '../lib/mysql.js';

export interface BufferPool {
  /** The pool the run found (MiB). */
  beforeMiB: number;
  /** The pool the run had (MiB). */
  duringMiB: number;
  /** Puts the pool back to its size before the run, when the run changed it. */
  restore(): Promise<void>;
}

const MIB = 2 ** 20;

function poolMiB(mysqlUrl: string): Promise<number> {
  return withServerConnection(mysqlUrl, async (c) => {
    const [rows] = await c.query<RowDataPacket[]>('SELECT @@GLOBAL.innodb_buffer_pool_size AS size');
    return Math.round(Number(rows[0]!.size) / MIB);
  });
}

function setPoolMiB(mysqlUrl: string, mib: number): Promise<void> {
  return withServerConnection(mysqlUrl, async (c) => void (await c.query('SET GLOBAL innodb_buffer_pool_size = ?', [mib * MIB])));
}

/**
 * Grows the server's buffer pool to `wantMiB` when it is smaller (never shrinks it; 0 leaves it as it
 * is). A server that refuses (no privilege for SET GLOBAL, a managed MySQL) keeps its pool, and the run
 * says so: its sustained figures then stand for that pool.
 */
export async function sizeBufferPool(mysqlUrl: string, wantMiB: number, print: (line: string) => void): Promise<BufferPool> {
  const beforeMiB = await poolMiB(mysqlUrl);
  const unchanged = { beforeMiB, duringMiB: beforeMiB, restore: async () => {} };
  if (wantMiB === 0 || beforeMiB >= wantMiB) return unchanged;
  try {
    await setPoolMiB(mysqlUrl, wantMiB);
  } catch (error) {
    print(
      `MySQL buffer pool: kept at ${beforeMiB} MiB, the server refused ${wantMiB} MiB (${(error as Error).message}); the sustained run's tables will outgrow it`,
    );
    return unchanged;
  }
  // The resize runs in the server's background: the size it reports is the one it settled on.
  const duringMiB = await poolMiB(mysqlUrl);
  print(`MySQL buffer pool: ${beforeMiB} MiB -> ${duringMiB} MiB for this run (--mysql-buffer-pool-mib; put back at the end)`);
  return {
    beforeMiB,
    duringMiB,
    restore: async () => {
      await setPoolMiB(mysqlUrl, beforeMiB).catch((error: Error) =>
        print(`MySQL buffer pool: could not put it back to ${beforeMiB} MiB (${error.message}); it stays at ${duringMiB} MiB until the server restarts`),
      );
    },
  };
}
