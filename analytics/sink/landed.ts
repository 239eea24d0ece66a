import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

import type { DuckDBConnection } from '@duckdb/node-api';

import { sqlString } from '../duckdb.js';
import { type ChunkName, parseChunkFileName } from '../layout.js';

/** Per audit-topic partition: the last chunk landed in `root` for `topic` (by its offsets). */
export async function lastChunks(root: string, topic: string): Promise<Map<number, ChunkName>> {
  const last = new Map<number, ChunkName>();
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const chunk = entry.isFile() ? parseChunkFileName(entry.name) : null;
    if (!chunk || chunk.topic !== topic) continue;
    const known = last.get(chunk.partition);
    if (!known || chunk.last > known.last) last.set(chunk.partition, chunk);
  }
  return last;
}

/** The glob of every landed file of one audit-topic partition. */
export const partitionGlob = (root: string, topic: string, partition: number): string => join(root, '**', `${topic}-p${partition}-*.parquet`);

/**
 * The source records (requests-topic partition and offset) already landed from one audit-topic
 * partition below `before`: a record re-emitted later for one of them is not a new decision.
 */
export async function landedSources(
  db: DuckDBConnection,
  root: string,
  topic: string,
  partition: number,
  before: number,
): Promise<{ source_partition: number; source_offset: number }[]> {
  const reader = await db.runAndReadAll(
    `SELECT source_partition, source_offset FROM read_parquet(${sqlString(partitionGlob(root, topic, partition))}) WHERE audit_offset < ${before}`,
  );
  return reader.getRows().map(([p, o]) => ({ source_partition: Number(p), source_offset: Number(o) }));
}
