import type { Knex } from 'knex';
import * as initialSchema from './20261124000001_initial_schema.js';
import * as redrivenDeadLetters from './20261125000001_redriven_dead_letters.js';

/**
 * Every migration, in order. Append-only: a released migration is never edited; a change is a new file
 * added at the end. Listed statically so the same code runs under the CLI and the test runner.
 */
const MIGRATIONS: readonly [string, Knex.Migration][] = [
  ['20261124000001_initial_schema', initialSchema],
  ['20261125000001_redriven_dead_letters', redrivenDeadLetters],
];

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => MIGRATIONS.map(([name]) => name),
  getMigrationName: (name) => name,
  getMigration: async (name) => MIGRATIONS.find(([n]) => n === name)![1],
};
