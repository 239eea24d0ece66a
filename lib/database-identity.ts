/**
 * Who this database is, for naming its Redis cache. The id `migrate` stored in `pipeline_identity`
 * tells databases apart (another database, a rebuild, a fresh one); the creation time of that table
 * tells a restored copy (a dump loaded, tables copied) from the original, though it carries the same
 * row: its cache may hold decisions made after the backup, which the copy does not have. A cache that
 * is not found costs speed only (MySQL decides), while a cache trusted wrongly would skip requests.
 */
import { createHash } from 'node:crypto';

import type { Knex } from 'knex';

export async function databaseIdentity(knex: Knex): Promise<string> {
  const row = (await knex('pipeline_identity').first('database_id')) as { database_id: string } | undefined;
  if (!row) throw new Error('pipeline_identity has no row: run `npm run redeem -- migrate` on a database that lacks it');
  const [tables] = (await knex.raw(
    "SELECT UNIX_TIMESTAMP(create_time) AS created FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'pipeline_identity'",
  )) as [{ created: number | string | null }[]];
  const created = String(tables[0]?.created ?? '');
  return createHash('sha256').update(`${row.database_id}/${created}`).digest('hex').slice(0, 16);
}

/** The Redis prefix of this database's cache: `<REDIS_KEY_PREFIX>:<database identity>`. */
export async function cachePrefix(knex: Knex, redisKeyPrefix: string): Promise<string> {
  return `${redisKeyPrefix}:${await databaseIdentity(knex)}`;
}
