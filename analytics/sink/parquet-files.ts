import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

import type { DuckDBConnection } from '@duckdb/node-api';

import { sqlString, tableOf } from '../duckdb.js';
import { chunkFileName, COLUMNS, temporaryName } from '../layout.js';
import { type DecisionRow, rowsByHour } from './rows.js';

export interface Chunk {
  topic: string;
  partition: number;
  /** First and last audit-topic offsets of the chunk, inclusive: the files' name. */
  first: number;
  last: number;
  rows: readonly DecisionRow[];
}

const TABLE = 'landing';

/** Flushes a written file to disk, so that the rename that follows publishes a whole file. */
async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Lands a chunk: one Parquet file per decision hour, all named after the chunk, each written under a
 * temporary name and then renamed over any file of the same name. A crash leaves at most temporary
 * files (ignored by readers, removed by the next run) and renamed files of one chunk, which the next
 * run lands again under the same names (analytics/sink/sink.ts). Returns the paths written.
 */
export async function writeChunk(db: DuckDBConnection, root: string, chunk: Chunk): Promise<string[]> {
  const name = chunkFileName(chunk.topic, chunk.partition, chunk.first, chunk.last);
  const written: { temporary: string; final: string }[] = [];
  const byHour = rowsByHour(chunk.rows);
  for (const [folder, rows] of byHour) {
    const dir = join(root, folder);
    await mkdir(dir, { recursive: true });
    const temporary = join(dir, temporaryName(name));
    await tableOf(db, TABLE, COLUMNS, rows);
    await db.run(`COPY (SELECT * FROM ${TABLE} ORDER BY audit_offset) TO ${sqlString(temporary)} (FORMAT PARQUET, COMPRESSION ZSTD)`);
    await syncFile(temporary);
    written.push({ temporary, final: join(dir, name) });
  }
  for (const file of written) await rename(file.temporary, file.final);
  return written.map((f) => f.final);
}

/** Removes the temporary files a crashed run left behind (never read: a reader takes `*.parquet`). */
export async function removeTemporaryFiles(root: string): Promise<number> {
  let removed = 0;
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/^\..*\.parquet\.tmp$/.test(entry.name)) continue;
    await rm(join(entry.parentPath, entry.name), { force: true });
    removed += 1;
  }
  return removed;
}
