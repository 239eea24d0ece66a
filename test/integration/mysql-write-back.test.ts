import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { holdSettingsLock, restoreLeftSettings, setGlobal, SettingsLedger } from '../../bench/mysql-globals.js';
import { writeBackDirtyPages } from '../../bench/mysql-write-back.js';
import { loadConfig } from '../../lib/config.js';
import { createDatabaseIfMissing, dropDatabase, withDatabase, withServerConnection } from '../../lib/mysql.js';
import { waitUntil } from './helpers.js';

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

// The ledger of this file's own: the default one, in .stack/, is the bench runs'.
const ledgerDir = mkdtempSync(join(tmpdir(), 'redeem-write-back-'));
const ledger = SettingsLedger.forServer(url, join(ledgerDir, 'ledger.json'));

// The file changes the server's settings as a bench run does: never beside one (the suite's bench files
// run at the same time as this one), which would read this file's changes as the server's own, or this
// file theirs. Seen: a suite left innodb_max_dirty_pages_pct at 0.
let settingsLock: { release(): Promise<void> } | undefined;
// Long enough to wait for the suite's bench runs (the smoke run about 80 s) when one holds the lock.
beforeAll(async () => {
  settingsLock = await holdSettingsLock(url, () => {});
}, 400_000);

afterAll(async () => {
  await settingsLock?.release();
  rmSync(ledgerDir, { recursive: true, force: true });
  await dropDatabase(url);
});

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
    const w = await writeBackDirtyPages(url, 2_000, 0, undefined, ledger);
    expect(w).not.toBeNull();
    expect(w!.pagesBefore).toBeGreaterThan(0);
    expect(w!.seconds).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await setting()).toEqual(before);
  });

  it('does not touch the server when no more pages are dirty than it settles for', async () => {
    const before = await setting();
    const w = await writeBackDirtyPages(url, 2_000, Number.MAX_SAFE_INTEGER, undefined, ledger);
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
    const w = await writeBackDirtyPages(url, 60_000, -1, stop.signal, ledger);
    expect(w).not.toBeNull();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await setting()).toEqual(before);
  });

  it('notes both settings as it found them for as long as they are changed, for a run killed meanwhile to be put back by the next', async () => {
    const before = await setting();
    const stop = new AbortController();
    const waiting = writeBackDirtyPages(url, 60_000, -1, stop.signal, ledger);
    try {
      await waitUntil('the write-back to lower innodb_max_dirty_pages_pct', async () => (await setting()).innodb_max_dirty_pages_pct === 0, 10_000);
      expect(ledger.left()).toEqual(new Map(Object.entries(before)));
    } finally {
      stop.abort();
      await waiting;
    }
    expect(ledger.left().size).toBe(0);
    expect(await setting()).toEqual(before);
  });

  it('a run that did not finish left a setting changed: the next run puts it back before it starts, and says so', async () => {
    const before = await setting();
    // As a run killed during its write-back leaves the server: the value it found noted, the server changed.
    ledger.noteBefore('innodb_io_capacity', before.innodb_io_capacity!);
    await withServerConnection(url, (c) => setGlobal(c, 'innodb_io_capacity', before.innodb_io_capacity! + 1));
    const said: string[] = [];
    await restoreLeftSettings(url, (line) => said.push(line), ledger);
    expect(await setting()).toEqual(before);
    expect(ledger.left().size).toBe(0);
    expect(said).toEqual([
      `MySQL innodb_io_capacity: ${before.innodb_io_capacity! + 1} -> ${before.innodb_io_capacity}, put back (a bench run that did not finish had left it changed)`,
    ]);
    // Nothing left: the next start touches nothing.
    await restoreLeftSettings(url, (line) => said.push(line), ledger);
    expect(said).toHaveLength(1);
  });

  it('on a server that refuses SET GLOBAL, leaves it as it is and notes nothing for the next run to put back', async () => {
    const user = `redeem_wb_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    await withServerConnection(url, (c) => c.query('CREATE USER ?@? IDENTIFIED BY ?', [user, '%', password]));
    try {
      const unprivileged = new URL(url);
      unprivileged.username = user;
      unprivileged.password = password;
      unprivileged.pathname = '/';
      const before = await setting();
      // -1 pages: past the early return for a server with nothing dirty, straight to the refused SET.
      expect(await writeBackDirtyPages(unprivileged.toString(), 2_000, -1, undefined, ledger)).toBeNull();
      expect(ledger.left().size).toBe(0);
      expect(await setting()).toEqual(before);
    } finally {
      await withServerConnection(url, (c) => c.query('DROP USER ?@?', [user, '%']));
    }
  });
  it('lets one run at a time change the server: a second one waits for the lock, and is told why it gave up', async () => {
    const said: string[] = [];
    // This file holds the lock: a run that would wait at most 1 s gives up, naming the lock.
    await expect(holdSettingsLock(url, (line) => said.push(line), 1)).rejects.toThrow(/another bench run held this server's settings for over 1 s/);
    expect(said).toEqual(["MySQL: another bench run is changing this server's settings; waiting for it (at most 1 s)"]);
    // Released, the next run takes it at once.
    await settingsLock!.release();
    settingsLock = await holdSettingsLock(url, (line) => said.push(line), 1);
    expect(said).toHaveLength(1);
  });
  it("tells the run when the server drops the lock's connection, and its release still ends cleanly", async () => {
    await settingsLock!.release();
    const said: string[] = [];
    const lock = await holdSettingsLock(url, (line) => said.push(line), 60);
    // The server ends the holder's connection, as a restart of MySQL would.
    await withServerConnection(url, async (c) => {
      const [rows] = await c.query<RowDataPacket[]>("SELECT IS_USED_LOCK('redeem-bench-server-settings') AS holder");
      await c.query('KILL ?', [Number(rows[0]!.holder)]);
    });
    await waitUntil('the run to be told', async () => said.some((line) => line.includes('failed')), 10_000);
    expect(said.at(-1)).toMatch(/the connection holding this run's settings lock \(redeem-bench-server-settings\) failed: .*another run may now change/);
    await lock.release();
    settingsLock = await holdSettingsLock(url, () => {});
  });
});
