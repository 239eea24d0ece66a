import { randomBytes } from 'node:crypto';

import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';

import { writeBackDirtyPages } from '../../bench/mysql-write-back.js';
import { loadConfig } from '../../lib/config.js';
import { createDatabaseIfMissing, dropDatabase, withDatabase, withServerConnection } from '../../lib/mysql.js';

/**
 * The bench's write-back before a compared stage (bench/mysql-write-back.ts), on the machine's MariaDB:
 * InnoDB is asked to write back its dirty pages, and the server's own setting is put back whatever the
 * wait ended with. Other test files write beside this one, so the pages it waits for are not counted
 * down to a number here.
 */

const url = withDatabase(loadConfig({}).mysqlUrl, `redeem_test_${randomBytes(4).toString('hex')}_wb`);
/** The two settings the write-back changes for its wait. */
const setting = () =>
  withServerConnection(url, async (c) => {
    const [rows] = await c.query<RowDataPacket[]>("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('innodb_max_dirty_pages_pct', 'innodb_io_capacity')");
    return Object.fromEntries(rows.map((r) => [r.Variable_name as string, Number(r.Value)]));
  });

afterAll(() => dropDatabase(url));

describe("the bench's InnoDB write-back", () => {
  it('waits while pages are dirty, then puts innodb_max_dirty_pages_pct and innodb_io_capacity back', async () => {
    await createDatabaseIfMissing(url);
    const before = await setting();
    expect(Object.keys(before).sort()).toEqual(['innodb_io_capacity', 'innodb_max_dirty_pages_pct']);
    // Dirty pages of its own: a table of 20,000 rows written just now.
    await withServerConnection(url, async (c) => {
      await c.query(`CREATE TABLE ${new URL(url).pathname.slice(1)}.filler (id INT PRIMARY KEY, pad VARCHAR(200)) ENGINE=InnoDB`);
      for (let chunk = 0; chunk < 20; chunk++) {
        const rows = Array.from({ length: 1000 }, (_, i) => `(${chunk * 1000 + i}, REPEAT('x', 200))`).join(',');
        await c.query(`INSERT INTO ${new URL(url).pathname.slice(1)}.filler VALUES ${rows}`);
      }
    });
    // Asked to wait for every page, for at most 2 s: it waits, and ends by the deadline.
    const started = Date.now();
    const w = await writeBackDirtyPages(url, 2_000, 0);
    expect(w).not.toBeNull();
    expect(w!.pagesBefore).toBeGreaterThan(0);
    expect(w!.seconds).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await setting()).toEqual(before);
  });

  it('does not touch the server when no more pages are dirty than it settles for', async () => {
    const before = await setting();
    const w = await writeBackDirtyPages(url, 2_000, Number.MAX_SAFE_INTEGER);
    expect(w).toMatchObject({ seconds: 0 });
    expect(w!.pagesAfter).toBe(w!.pagesBefore);
    expect(await setting()).toEqual(before);
  });

  it('ends the wait when its signal aborts (a stopped bench), and puts both settings back', async () => {
    const before = await setting();
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 300);
    const started = Date.now();
    // -1 pages can never be reached: only the signal (or the minute) ends this wait.
    const w = await writeBackDirtyPages(url, 60_000, -1, stop.signal);
    expect(w).not.toBeNull();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await setting()).toEqual(before);
  });
});
