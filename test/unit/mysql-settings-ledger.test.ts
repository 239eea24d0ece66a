import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { SettingsLedger } from '../../bench/mysql-globals.js';

/** The bench's note of the MySQL settings a run changed (bench/mysql-globals.ts), in a folder of the test's own. */
describe("the bench's ledger of changed MySQL settings", () => {
  let dir = '';
  const ledgerAt = (url = 'mysql://root@127.0.0.1:3306/x') => {
    dir ||= mkdtempSync(join(tmpdir(), 'redeem-ledger-'));
    return SettingsLedger.forServer(url, join(dir, 'ledger.json'));
  };
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  it('keeps the value found before the first change, until it is put back', () => {
    const ledger = ledgerAt();
    ledger.noteBefore('innodb_io_capacity', 200);
    // The run's own second change must not make its first change the value to put back.
    ledger.noteBefore('innodb_io_capacity', 2000);
    ledger.noteBefore('innodb_max_dirty_pages_pct', 90);
    expect(ledger.left()).toEqual(
      new Map([
        ['innodb_io_capacity', 200],
        ['innodb_max_dirty_pages_pct', 90],
      ]),
    );
    ledger.putBack('innodb_io_capacity');
    expect(ledger.left()).toEqual(new Map([['innodb_max_dirty_pages_pct', 90]]));
    ledger.putBack('innodb_max_dirty_pages_pct');
    expect(ledger.left().size).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'ledger.json'), 'utf8'))).toEqual({});
  });

  it('keeps each server apart (host and port)', () => {
    const local = ledgerAt('mysql://root@127.0.0.1:3306/a');
    const other = ledgerAt('mysql://root@127.0.0.1:3307/a');
    local.noteBefore('innodb_buffer_pool_size', 134217728);
    expect(other.left().size).toBe(0);
    expect(ledgerAt('mysql://root@127.0.0.1/b').left()).toEqual(new Map([['innodb_buffer_pool_size', 134217728]]));
  });

  it('never hands back a name that is not a setting the bench changes, nor a value that is not a number', () => {
    const ledger = ledgerAt();
    writeFileSync(
      join(dir, 'ledger.json'),
      JSON.stringify({ '127.0.0.1:3306': { 'innodb_io_capacity = 1; DROP DATABASE x; --': 1, innodb_io_capacity: 'x', innodb_max_dirty_pages_pct: 90 } }),
    );
    expect(ledger.left()).toEqual(new Map([['innodb_max_dirty_pages_pct', 90]]));
  });

  it('refuses a file that is not its own, naming it', () => {
    const ledger = ledgerAt();
    writeFileSync(join(dir, 'ledger.json'), '{"127.0.0.1:3306": {"innodb_io_capa');
    expect(() => ledger.left()).toThrow(/ledger\.json: not the bench's ledger of MySQL settings/);
  });
});
