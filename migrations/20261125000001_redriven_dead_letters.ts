import type { Knex } from 'knex';

/**
 * What `redeem dlq redrive` has sent again, so it never sends a dead letter twice. Keyed by the dead
 * letter's origin (its place in the requests topic), not by its place in the dead-letter topic: a crash
 * between publishing dead letters and committing offsets can dead-letter one message twice.
 * `target_partition`/`target_offset` is where the copy went, so a copy that is dead-lettered again is
 * recognised and not sent round in circles.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('redriven_dead_letters', (t) => {
    t.string('source_topic', 249).notNullable();
    t.integer('source_partition').notNullable();
    t.bigInteger('source_offset').notNullable();
    t.string('code', 32).notNullable();
    t.string('coupon_code', 64).notNullable();
    t.string('request_id', 128).notNullable();
    t.integer('target_partition').notNullable();
    t.bigInteger('target_offset').notNullable();
    t.datetime('redriven_at', { precision: 3 }).notNullable();
    t.primary(['source_topic', 'source_partition', 'source_offset']);
    t.index(['source_topic', 'target_partition', 'target_offset'], 'redriven_dead_letters_target');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('redriven_dead_letters');
}
