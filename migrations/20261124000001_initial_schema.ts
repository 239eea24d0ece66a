import type { Knex } from 'knex';

/**
 * coupons and redemptions are the tables analysts and operators query; decisions is the pipeline's
 * memory of every request it decided, the source of truth for deduplication (Redis only caches it).
 * Times are DATETIME(3) in UTC.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('coupons', (t) => {
    t.string('code', 64).primary();
    t.string('campaign_id', 64).notNullable().index();
    t.integer('quota').unsigned().notNullable();
    t.integer('redeemed_count').notNullable().defaultTo(0);
    t.integer('per_user_limit').unsigned().notNullable();
    t.datetime('valid_from', { precision: 3 }).notNullable();
    t.datetime('valid_until', { precision: 3 }).notNullable();
    t.datetime('updated_at', { precision: 3 }).notNullable();
  });

  await knex.schema.createTable('redemptions', (t) => {
    t.string('coupon_code', 64).notNullable();
    t.string('request_id', 128).notNullable();
    t.string('user_id', 128).notNullable();
    t.string('order_id', 128).notNullable();
    t.bigInteger('amount_cents').notNullable();
    t.string('currency', 3).notNullable();
    t.enu('status', ['REDEEMED', 'REVERSED']).notNullable();
    t.datetime('created_at', { precision: 3 }).notNullable();
    t.datetime('reversed_at', { precision: 3 }).nullable();
    t.string('reversed_by_request_id', 128).nullable();
    t.primary(['coupon_code', 'request_id']);
    t.index(['coupon_code', 'user_id', 'status'], 'redemptions_user_status');
  });

  await knex.schema.createTable('decisions', (t) => {
    t.string('coupon_code', 64).notNullable();
    t.string('request_id', 128).notNullable();
    t.enu('op', ['REDEEM', 'REVERSE']).notNullable();
    t.enu('decision', ['APPLIED', 'REJECTED']).notNullable();
    t.string('reason', 32).nullable();
    t.bigInteger('remaining_quota').nullable();
    t.string('source_topic', 200).notNullable();
    t.integer('source_partition').notNullable();
    t.bigInteger('source_offset').notNullable();
    t.datetime('decided_at', { precision: 3 }).notNullable();
    t.string('consumer_id', 200).notNullable();
    t.primary(['coupon_code', 'request_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('decisions');
  await knex.schema.dropTable('redemptions');
  await knex.schema.dropTable('coupons');
}
