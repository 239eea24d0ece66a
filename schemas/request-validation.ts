/**
 * The checks a RedemptionRequested must pass beyond its Avro schema. The producer refuses a request that
 * fails them (nothing is sent); the consumer dead-letters one that arrives anyway.
 */
import { hasControlCharacter, parseIsoInstant, timeRangeProblem } from '../lib/time-input.js';
import type { RedemptionRequested } from './types.js';

export function requestProblems(r: RedemptionRequested): string[] {
  const problems: string[] = [];
  const text = (field: keyof RedemptionRequested, value: string, max: number) => {
    if (typeof value !== 'string') problems.push(`${field} must be a string`);
    else if (value.trim() === '') problems.push(`${field} must not be empty`);
    else if (value.length > max) problems.push(`${field} must be at most ${max} characters`);
    // A NUL, newline or escape in an id is never genuine, and it would let two ids join into one key.
    else if (hasControlCharacter(value)) problems.push(`${field} must not contain control characters, got ${JSON.stringify(value)}`);
  };
  text('request_id', r.request_id, 128);
  text('coupon_code', r.coupon_code, 64);
  text('user_id', r.user_id, 128);
  text('order_id', r.order_id, 128);
  text('source', r.source, 128);
  if (r.op !== 'REDEEM' && r.op !== 'REVERSE') problems.push(`op must be REDEEM or REVERSE, got ${String(r.op)}`);
  if (r.op === 'REVERSE' && (r.reverses_request_id === null || r.reverses_request_id.trim() === '')) {
    problems.push('a REVERSE needs reverses_request_id (the redemption it refunds)');
  }
  if (r.op === 'REVERSE' && typeof r.reverses_request_id === 'string' && r.reverses_request_id.trim() !== '') {
    text('reverses_request_id', r.reverses_request_id, 128);
  }
  if (r.op === 'REVERSE' && r.reverses_request_id === r.request_id) problems.push('a REVERSE cannot reverse itself');
  if (r.op === 'REDEEM' && r.reverses_request_id !== null) problems.push('a REDEEM must not carry reverses_request_id');
  if (!Number.isSafeInteger(r.amount_cents) || r.amount_cents < 0) problems.push(`amount_cents must be a whole number >= 0, got ${r.amount_cents}`);
  if (!/^[A-Z]{3}$/.test(r.currency)) problems.push(`currency must be a 3-letter ISO code, got "${r.currency}"`);
  if (!(r.occurred_at instanceof Date) || Number.isNaN(r.occurred_at.getTime())) problems.push('occurred_at must be a valid time');
  else {
    const outOfRange = timeRangeProblem(r.occurred_at);
    if (outOfRange) problems.push(`occurred_at ${outOfRange}`);
  }
  return problems;
}

/**
 * Builds a request from loose JSON (a line of a file, an API body): occurred_at as ISO-8601 or epoch
 * millis, reverses_request_id optional. Returns the request or every problem found.
 */
export function requestFromJson(input: unknown): { request: RedemptionRequested } | { problems: string[] } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return { problems: ['must be a JSON object'] };
  const o = input as Record<string, unknown>;
  const problems: string[] = [];
  const str = (field: string): string => {
    const v = o[field];
    if (typeof v === 'string') return v;
    problems.push(v === undefined ? `${field} is missing` : `${field} must be a string`);
    return '';
  };
  const request_id = str('request_id');
  const coupon_code = str('coupon_code');
  const user_id = str('user_id');
  const order_id = str('order_id');
  const currency = str('currency');
  const source = str('source');
  const op = o.op;
  if (op !== 'REDEEM' && op !== 'REVERSE') problems.push(`op must be "REDEEM" or "REVERSE"`);
  const reverses = o.reverses_request_id;
  if (reverses !== undefined && reverses !== null && typeof reverses !== 'string') problems.push('reverses_request_id must be a string or null');
  const amount = o.amount_cents;
  if (typeof amount !== 'number') problems.push('amount_cents must be a number');
  const occurred = o.occurred_at;
  let occurred_at = new Date(NaN);
  if (typeof occurred === 'number' && Number.isSafeInteger(occurred)) occurred_at = new Date(occurred);
  else if (typeof occurred === 'string') {
    const parsed = parseIsoInstant(occurred);
    if (parsed instanceof Date) occurred_at = parsed;
    else problems.push(`occurred_at ${parsed.problem}`);
  } else problems.push('occurred_at must be ISO-8601 with a zone (e.g. 2026-11-24T10:00:00Z) or whole epoch millis');
  const request: RedemptionRequested = {
    request_id,
    coupon_code,
    user_id,
    order_id,
    op: op as RedemptionRequested['op'],
    reverses_request_id: (reverses as string | null | undefined) ?? null,
    amount_cents: amount as number,
    currency,
    occurred_at,
    source,
  };
  // Every problem of the input at once: the rules are checked on the fields that have the right type too,
  // leaving out what they would say again about a field already reported.
  const reported = new Set(problems.map((p) => /^(\w+) /.exec(p)?.[1] ?? ''));
  const repeats = (problem: string) => [...reported].some((field) => field !== '' && new RegExp(`\\b${field}\\b`).test(problem));
  const invalid = [...problems, ...requestProblems(request).filter((p) => !repeats(p))];
  return invalid.length > 0 ? { problems: invalid } : { request };
}
