/**
 * Migrations are append-only and run in the order migrations/index.ts lists them. Released ones keep
 * their names (knex records each applied migration by name: renaming one makes a migrated database run
 * it again), so two released migrations that share a timestamp stay as they are, their order fixed by
 * the list. Every migration added after them gets a timestamp of its own, later than any before it.
 */
import { readdirSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { migrationSource } from '../../migrations/index.js';

/** Released: applied to databases in the field, in this order. Never rename or reorder these. */
const RELEASED = ['20261124000001_initial_schema', '20261125000001_redriven_dead_letters', '20261125000001_database_identity'];

const timestamp = (name: string) => /^(\d{14})_[a-z0-9_]+$/.exec(name)?.[1];

describe('migrations', () => {
  it('are all listed, once, each under its file name', async () => {
    const files = readdirSync(new URL('../../migrations/', import.meta.url))
      .filter((f) => f.endsWith('.ts') && f !== 'index.ts')
      .map((f) => f.replace(/\.ts$/, ''));
    const listed = await migrationSource.getMigrations([]);
    expect([...listed].sort()).toEqual(files.sort());
    expect(new Set(listed).size).toBe(listed.length);
  });

  it('start with the released ones, unrenamed and in their order', async () => {
    const listed = await migrationSource.getMigrations([]);
    expect(listed.slice(0, RELEASED.length)).toEqual(RELEASED);
  });

  it('each named <14-digit timestamp>_<snake_case>, in timestamp order; a new one has a timestamp of its own, later than all before it', async () => {
    const listed = await migrationSource.getMigrations([]);
    for (const name of listed) expect(timestamp(name), name).toBeDefined();
    const stamps = listed.map((n) => timestamp(n)!);
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]! >= stamps[i - 1]!, `${listed[i]} is listed after ${listed[i - 1]}`).toBe(true);
    const added = listed.slice(RELEASED.length);
    for (const name of added) {
      const before = listed.slice(0, listed.indexOf(name)).map((n) => timestamp(n)!);
      expect(
        before.every((t) => t < timestamp(name)!),
        `${name} needs a timestamp later than every migration before it`,
      ).toBe(true);
    }
  });
});
