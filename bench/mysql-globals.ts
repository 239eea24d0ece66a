/**
 * The MySQL server's global settings as the bench changes them for a run: read, set, and noted in a file
 * from just before each change until the run has put the setting back.
 *
 * SET GLOBAL outlives the connection and the process that made it. A run killed between a change and its
 * restore (kill -9, the host's OOM killer, a lost terminal) used to leave the server changed for every one
 * of its users, innodb_max_dirty_pages_pct 0 and innodb_io_capacity at its maximum (every write written
 * back at once) or a 2 GiB buffer pool, and the next run took the changed values for the server's own and
 * "put back" those. Now the next run finds what was left in the file and puts it back first, saying so.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { Connection, RowDataPacket } from 'mysql2/promise';

import { connectToServer, withServerConnection } from '../lib/mysql.js';
import { STACK_DIR } from '../scripts/stack/service.js';

/** The settings a run may change; a name read back from the file is one of these or is ignored. */
const CHANGED_BY_RUNS = new Set([
  'innodb_buffer_pool_size',
  'innodb_io_capacity',
  'innodb_log_file_size',
  'innodb_max_dirty_pages_pct',
  'innodb_redo_log_capacity',
]);

/** A global variable's or status counter's value as a number; null when the server has none of that name. */
export async function showGlobal(c: Connection, kind: 'VARIABLES' | 'STATUS', name: string): Promise<number | null> {
  // `kind` is one of the two literals above, never input.
  const [rows] = await c.query<RowDataPacket[]>(`SHOW GLOBAL ${kind} LIKE ?`, [name]);
  return rows.length > 0 ? Number(rows[0]!.Value) : null;
}

/** Sets a global variable a run may change (CHANGED_BY_RUNS; any other name is refused, never sent). */
export async function setGlobal(c: Connection, name: string, value: number): Promise<void> {
  if (!CHANGED_BY_RUNS.has(name)) throw new Error(`${name} is not a setting the bench changes`);
  await c.query(`SET GLOBAL ${name} = ?`, [value]);
}

type Noted = Record<string, Record<string, number>>;

/**
 * The values a run found, per server (host:port), of the settings it has changed and not put back yet.
 * One run at a time per server: the bench measures a host it has to itself.
 */
export class SettingsLedger {
  private constructor(
    private readonly file: string,
    private readonly server: string,
  ) {}

  /** The ledger of the server `mysqlUrl` names, in the checkout's .stack/ unless `file` says otherwise. */
  static forServer(mysqlUrl: string, file = join(STACK_DIR, 'bench-mysql-settings.json')): SettingsLedger {
    const { hostname, port } = new URL(mysqlUrl);
    return new SettingsLedger(file, `${hostname}:${port || '3306'}`);
  }

  /** Notes `name`'s value before a change; a value noted already (the run's own earlier change) stays. */
  noteBefore(name: string, value: number): void {
    const all = this.read();
    const server = (all[this.server] ??= {});
    if (server[name] !== undefined) return;
    server[name] = value;
    this.write(all);
  }

  /** `name` is back at the value noted: nothing to put back. */
  putBack(name: string): void {
    const all = this.read();
    const server = all[this.server];
    if (server?.[name] === undefined) return;
    delete server[name];
    if (Object.keys(server).length === 0) delete all[this.server];
    this.write(all);
  }

  /** The settings runs left changed on this server, each with the value to put back. */
  left(): Map<string, number> {
    const server = this.read()[this.server] ?? {};
    return new Map(Object.entries(server).filter(([name, value]) => CHANGED_BY_RUNS.has(name) && Number.isFinite(value)));
  }

  private read(): Noted {
    try {
      return JSON.parse(readFileSync(this.file, 'utf8')) as Noted;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new Error(
        `${this.file}: not the bench's ledger of MySQL settings (${(error as Error).message}); remove it once the server's settings are as they should be`,
        {
          cause: error,
        },
      );
    }
  }

  private write(all: Noted): void {
    // Whole or not at all: a run killed while writing leaves the previous ledger, never half of one.
    mkdirSync(dirname(this.file), { recursive: true });
    writeFileSync(`${this.file}.tmp`, `${JSON.stringify(all, null, 2)}\n`);
    renameSync(`${this.file}.tmp`, this.file);
  }
}

/**
 * Puts back what runs that did not finish left changed on the server, before this run reads the
 * server's settings as its own; prints each setting it put back. A setting the server refuses stays in
 * the ledger for the next run, and this fails naming it.
 */
export async function restoreLeftSettings(mysqlUrl: string, print: (line: string) => void, ledger = SettingsLedger.forServer(mysqlUrl)): Promise<void> {
  const left = ledger.left();
  if (left.size === 0) return;
  await withServerConnection(mysqlUrl, async (c) => {
    for (const [name, value] of left) {
      const now = await showGlobal(c, 'VARIABLES', name);
      try {
        await setGlobal(c, name, value);
      } catch (error) {
        throw new Error(`MySQL ${name}: a bench run that did not finish left it at ${now}; putting it back to ${value} failed: ${(error as Error).message}`, {
          cause: error,
        });
      }
      ledger.putBack(name);
      print(`MySQL ${name}: ${now} -> ${value}, put back (a bench run that did not finish had left it changed)`);
    }
  });
}

/** The MySQL named lock of the runs that change a server's global settings (server-wide, one holder). */
const SETTINGS_LOCK = 'redeem-bench-server-settings';

/**
 * Takes the server's settings lock for a run, waiting while another run holds it; resolves with its
 * release. Two runs on one server at once (the suite's bench files beside each other, an operator's run
 * beside CI) each read the other's changed values as the server's own and put those back: seen, a suite
 * left innodb_max_dirty_pages_pct at 0 for every later user of the server. The lock is a connection's,
 * so a run that dies releases it with its connection, and the next one finds what it left in the ledger.
 * `waitSeconds` 0: refused at once when another run holds it.
 */
export async function holdSettingsLock(mysqlUrl: string, print: (line: string) => void, waitSeconds = 1800): Promise<{ release(): Promise<void> }> {
  const connection = await connectToServer(mysqlUrl);
  // Idle for the whole run: a server that drops it (a restart) ends the lock, which the run is told of
  // rather than crashing on an unheard error.
  connection.on('error', (error: Error) =>
    print(
      `MySQL: the connection holding this run's settings lock (${SETTINGS_LOCK}) failed: ${error.message}; another run may now change the server's settings`,
    ),
  );
  // A connection that already failed has no lock left to release.
  const release = () => connection.end().catch(() => connection.destroy());
  const take = async (seconds: number) => {
    const [rows] = await connection.query<RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS taken', [SETTINGS_LOCK, seconds]);
    return Number(rows[0]!.taken) === 1;
  };
  try {
    if (!(await take(0))) {
      if (waitSeconds === 0)
        throw new Error(`MySQL: another bench run is under way on this server (it holds the lock ${SETTINGS_LOCK}); run again once it has ended`);
      print(`MySQL: another bench run is changing this server's settings; waiting for it (at most ${waitSeconds} s)`);
      if (!(await take(waitSeconds)))
        throw new Error(
          `MySQL: another bench run held this server's settings for over ${waitSeconds} s (the lock ${SETTINGS_LOCK}); run again once it has ended`,
        );
    }
  } catch (error) {
    await release();
    throw error;
  }
  return { release };
}
