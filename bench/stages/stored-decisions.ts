/** The decisions a namespace's MySQL stored, read to check what a checkout was answered. */
import type { Knex } from 'knex';

import type { Config } from '../../lib/config.js';
import { Runtime } from '../../lib/runtime.js';
import type { Answer } from '../checkout-load.js';

/** Every stored decision: `coupon/request id` → `decision reason`. */
export async function storedDecisions(knex: Knex): Promise<Map<string, string>> {
  const rows = (await knex('decisions').select('coupon_code', 'request_id', 'decision', 'reason')) as {
    coupon_code: string;
    request_id: string;
    decision: string;
    reason: string | null;
  }[];
  return new Map(rows.map((r) => [`${r.coupon_code}/${r.request_id}`, `${r.decision} ${r.reason}`]));
}

/**
 * Whether every decision answered is the one stored for its request id (a retry is answered with the
 * original outcome, which is the stored one), and every request answered without a decision has one
 * stored by now (it was in Kafka, to be decided).
 */
export async function answersAgree(c: Config, answers: readonly Answer[]): Promise<boolean> {
  const r = new Runtime(c);
  try {
    const stored = await storedDecisions(r.knex());
    return answers.every((a) => {
      const s = stored.get(`${a.couponCode}/${a.requestId}`);
      return s !== undefined && (a.decided === null || s === `${a.decided.decision} ${a.decided.reason}`);
    });
  } finally {
    await r.close();
  }
}
