/**
 * `redeem diff`: two databases' coupon counts and redemption rows compared (a rebuild against the live one).
 */
import { createKnex, withDatabase } from '../../lib/mysql.js';
import { ExpectedFailure } from '../failures.js';

interface Side {
  counts: Map<string, number>;
  redemptions: Map<string, string>;
}

/** A side that cannot be read, named: the database given, not the one in MYSQL_URL. */
function sideError(database: string, error: unknown): unknown {
  const code = (error as { code?: unknown }).code;
  if (code === 'ER_BAD_DB_ERROR') {
    return new ExpectedFailure(
      `diff: there is no database ${database} on the MySQL server of MYSQL_URL; name one that exists (\`rebuild --into ${database}\` makes one from the topic)`,
      1,
      { cause: error },
    );
  }
  if (code === 'ER_NO_SUCH_TABLE') {
    return new ExpectedFailure(`diff: database ${database} has no pipeline tables (it was never migrated or rebuilt into); name a pipeline database`, 1, {
      cause: error,
    });
  }
  return error;
}

async function load(url: string, database: string): Promise<Side> {
  const knex = createKnex(url, { min: 0, max: 1 });
  try {
    const coupons = (await knex('coupons').select('code', 'redeemed_count')) as { code: string; redeemed_count: number }[];
    const rows = (await knex('redemptions').select('coupon_code', 'request_id', 'user_id', 'order_id', 'amount_cents', 'status')) as Record<string, unknown>[];
    return {
      counts: new Map(coupons.map((c) => [c.code, c.redeemed_count])),
      redemptions: new Map(
        rows.map((r) => [
          `${String(r.coupon_code)}/${String(r.request_id)}`,
          `${String(r.status)} user=${String(r.user_id)} order=${String(r.order_id)} amount=${String(r.amount_cents)}`,
        ]),
      ),
    };
  } catch (error) {
    throw sideError(database, error);
  } finally {
    await knex.destroy();
  }
}

/** Compares two databases' coupon counts and redemption rows; returns every difference. */
export async function diffDatabases(mysqlUrl: string, left: string, right: string): Promise<string[]> {
  const [a, b] = await Promise.all([load(withDatabase(mysqlUrl, left), left), load(withDatabase(mysqlUrl, right), right)]);
  const out: string[] = [];
  for (const code of new Set([...a.counts.keys(), ...b.counts.keys()])) {
    const x = a.counts.get(code);
    const y = b.counts.get(code);
    if (x !== y) out.push(`coupon ${code}: redeemed_count ${x ?? 'missing'} in ${left}, ${y ?? 'missing'} in ${right}`);
  }
  for (const key of new Set([...a.redemptions.keys(), ...b.redemptions.keys()])) {
    const x = a.redemptions.get(key);
    const y = b.redemptions.get(key);
    if (x !== y) out.push(`redemption ${key}: ${x ?? 'missing'} in ${left}, ${y ?? 'missing'} in ${right}`);
  }
  return out;
}
