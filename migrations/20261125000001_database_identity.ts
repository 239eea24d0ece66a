import { randomUUID } from 'node:crypto';

import type { Knex } from 'knex';

/**
 * The database's identity: a random id made once, by the migration that creates the table. Redis
 * caches are namespaced by it (lib/database-identity.ts), so a cache filled for one database is never
 * trusted for another: a rebuild, a fresh or a different database gets a new id.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('pipeline_identity', (t) => {
    // One row: the primary key pins it.
    t.tinyint('singleton').unsigned().primary();
    t.string('database_id', 36).notNullable();
    t.datetime('created_at', { precision: 3 }).notNullable();
  });
  await knex('pipeline_identity').insert({ singleton: 1, database_id: randomUUID(), created_at: new Date() });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('pipeline_identity');
}
