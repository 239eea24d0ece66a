/**
 * Every migration, in order. Append-only: a released migration is never edited; a change is a new file
 * added at the end, named with a timestamp of its own, later than every other. Released migrations keep
 * their names even where two share a timestamp (knex records applied migrations by name): this list
 * fixes their order. test/unit/migrations-order.test.ts holds all of that. Listed statically so the same
 * code runs under the CLI and the test runner.
 */
import type { Knex } from 'knex';

import * as initialSchema from './20261124000001_initial_schema.js';
import * as databaseIdentity from './20261125000001_database_identity.js';
import * as redrivenDeadLetters from './20261125000001_redriven_dead_letters.js';

const MIGRATIONS: readonly [string, Knex.Migration][] = [
  ['20261124000001_initial_schema', initialSchema],
  ['20261125000001_redriven_dead_letters', redrivenDeadLetters],
  ['20261125000001_database_identity', databaseIdentity],
];

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => MIGRATIONS.map(([name]) => name),
  getMigrationName: (name) => name,
  getMigration: async (name) => MIGRATIONS.find(([n]) => n === name)![1],
};
