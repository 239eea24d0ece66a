/**
 * Times the pipeline accepts, wherever they come from (a request, a CSV of coupons, a JSON line).
 *
 * The storable range is what both representations on the way hold without change: epoch milliseconds
 * that are not negative (Avro's timestamp-millis and JavaScript agree there) and MySQL's DATETIME, which
 * ends with year 9999. A time outside it is refused at the edge instead of being changed on the way
 * (a negative epoch read back as positive, year 0 read back as 2000) or refused by MySQL mid-flush.
 */
export const EARLIEST_TIME = Date.UTC(1970, 0, 1);
export const LATEST_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
export const TIME_RANGE_TEXT = '1970-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z';

/** Why `time` cannot be stored, or null when it can. */
export function timeRangeProblem(time: Date): string | null {
  const ms = time.getTime();
  if (Number.isNaN(ms)) return 'is not a valid time';
  if (ms < EARLIEST_TIME || ms > LATEST_TIME) return `must lie within ${TIME_RANGE_TEXT}, got ${describe(ms)}`;
  return null;
}

function describe(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : `${date.toISOString()} (${ms} ms since the epoch)`;
}

const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:?\d{2})$/;

/**
 * Parses an ISO-8601 instant that names its zone (`Z` or an offset), a calendar date that exists (no
 * February 31st, which `Date` would quietly turn into March 3rd) and a time in the storable range.
 * Returns the time or why it was refused.
 */
export function parseIsoInstant(text: string): Date | { problem: string } {
  const match = ISO_INSTANT.exec(text);
  if (!match) {
    return { problem: `must be an ISO-8601 time with a zone, e.g. 2026-11-24T10:00:00Z or 2026-11-24T11:00:00+01:00, got "${text}"` };
  }
  const [, year, month, day, hour, minute, second] = match.map((part) => (part === undefined ? undefined : Number(part)));
  const calendar = new Date(Date.UTC(year!, month! - 1, day!));
  calendar.setUTCFullYear(year!);
  if (calendar.getUTCMonth() !== month! - 1 || calendar.getUTCDate() !== day!) return { problem: `names a day that does not exist: "${text}"` };
  if (hour! > 23 || minute! > 59 || (second ?? 0) > 59) return { problem: `names a time of day that does not exist: "${text}"` };
  const time = new Date(text);
  const outOfRange = timeRangeProblem(time);
  return outOfRange ? { problem: outOfRange } : time;
}

/** C0 and C1 control characters (NUL, newline, escape, ...): never part of an id or a code. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export function hasControlCharacter(text: string): boolean {
  return CONTROL.test(text);
}
