import type { Knex } from 'knex';

import type { CatalogueCoupon } from '../analytics/query/views.js';
import { type CouponTermsRow, readCouponsFile } from './coupon-csv.js';
import { InputError } from './errors.js';

const CHUNK = 1000;

/**
 * Writes coupon terms in one transaction: new codes are inserted, existing ones get the new terms and
 * keep their redeemed_count, which only the pipeline changes.
 */
export async function upsertCoupons(knex: Knex, coupons: readonly CouponTermsRow[]): Promise<number> {
  const now = new Date();
  await knex.transaction(async (trx) => {
    for (let i = 0; i < coupons.length; i += CHUNK) {
      const rows = coupons.slice(i, i + CHUNK).map((c) => ({ ...c, redeemed_count: 0, updated_at: now }));
      await trx('coupons').insert(rows).onConflict('code').merge(['campaign_id', 'quota', 'per_user_limit', 'valid_from', 'valid_until', 'updated_at']);
    }
  });
  return coupons.length;
}

/**
 * Loads a coupons CSV file in constant memory: a first pass checks every row (a bad file loads nothing
 * and reports every bad row), a second pass upserts in chunks inside one transaction. Returns the count.
 */
export async function importCouponsFile(knex: Knex, path: string, onProgress: (rows: number) => void = () => {}): Promise<number> {
  let checked = 0;
  for await (const _row of readCouponsFile(path)) checked += 1;
  const now = new Date();
  let loaded = 0;
  await knex.transaction(async (trx) => {
    let chunk: CouponTermsRow[] = [];
    const write = async () => {
      if (chunk.length === 0) return;
      const rows = chunk.map((c) => ({ ...c, redeemed_count: 0, updated_at: now }));
      await trx('coupons').insert(rows).onConflict('code').merge(['campaign_id', 'quota', 'per_user_limit', 'valid_from', 'valid_until', 'updated_at']);
      loaded += chunk.length;
      onProgress(loaded);
      chunk = [];
    };
    for await (const row of readCouponsFile(path)) {
      chunk.push(row);
      if (chunk.length >= CHUNK) await write();
    }
    await write();
    // The file changed between the passes: what would be loaded is not what was checked.
    if (loaded !== checked)
      throw new InputError('CSV_INVALID', `${path} changed while it was loaded (${checked} rows checked, ${loaded} read); nothing loaded, load it again`);
  });
  return loaded;
}

export interface GenerateOptions {
  count: number;
  prefix: string;
  campaigns: number;
  quota: number;
  perUserLimit: number;
  validFrom: Date;
  validUntil: Date;
}

/** The codes of `count` demo coupons: PREFIX-000001, PREFIX-000002, ... */
export function couponCodes(prefix: string, count: number): string[] {
  const width = Math.max(6, String(count).length);
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(i + 1).padStart(width, '0')}`);
}

/** Demo coupons PREFIX-000001 ... spread over a few campaigns. */
export function generateCoupons(o: GenerateOptions): CouponTermsRow[] {
  return couponCodes(o.prefix, o.count).map((code, i) => ({
    code,
    campaign_id: `${o.prefix.toLowerCase()}-campaign-${(i % o.campaigns) + 1}`,
    quota: o.quota,
    per_user_limit: o.perUserLimit,
    valid_from: o.validFrom,
    valid_until: o.validUntil,
  }));
}

/** The campaign of each of these coupons that the catalogue knows (an unknown code is left out). */
export async function campaignsOf(knex: Knex, codes: readonly string[]): Promise<Map<string, string>> {
  const campaigns = new Map<string, string>();
  for (let i = 0; i < codes.length; i += CHUNK) {
    const rows = (await knex('coupons')
      .whereIn('code', codes.slice(i, i + CHUNK))
      .select('code', 'campaign_id')) as { code: string; campaign_id: string }[];
    for (const row of rows) campaigns.set(row.code, row.campaign_id);
  }
  return campaigns;
}

/** Every coupon with its terms and count, for analysis (`audit query`'s coupons view). */
export async function catalogue(knex: Knex): Promise<CatalogueCoupon[]> {
  return (await knex('coupons').select('code', 'campaign_id', 'quota', 'per_user_limit', 'redeemed_count', 'valid_from', 'valid_until')) as CatalogueCoupon[];
}

/** The coupons with the most redemptions now (the live page's top coupons). */
export async function topRedeemed(knex: Knex, limit: number): Promise<{ code: string; redeemed: number }[]> {
  const rows = (await knex('coupons')
    .where('redeemed_count', '>', 0)
    .orderBy('redeemed_count', 'desc')
    .orderBy('code')
    .limit(limit)
    .select('code', 'redeemed_count')) as {
    code: string;
    redeemed_count: number;
  }[];
  return rows.map((r) => ({ code: r.code, redeemed: Number(r.redeemed_count) }));
}
