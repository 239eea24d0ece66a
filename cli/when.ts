/**
 * The moments a person types for --since and --until: a day (2026-12-04, yesterday, today; UTC days), a
 * duration ago (90s, 30m, 1h, 2d) or an ISO-8601 time with a zone.
 *
 * A day given to --since means its first instant; given to --until, its end (the whole day is
 * included), so `--since yesterday --until yesterday` is all of yesterday.
 */
import { parseIsoInstant, timeRangeProblem } from '../lib/time-input.js';

export type Edge = 'since' | 'until';

export const WHEN_FORMS = 'a date (2026-12-04), yesterday, today, a duration ago (90s, 30m, 1h, 2d) or an ISO-8601 time with a zone (2026-12-04T10:00:00Z)';

const DAY_MS = 86_400_000;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS } as const;

/** The moment `text` names, relative to `now`, or why it names none. */
export function parseWhen(text: string, edge: Edge, now: Date = new Date()): Date | { problem: string } {
  const value = text.trim();
  const refused = { problem: `must be ${WHEN_FORMS}, got "${text}"` };
  const duration = /^(\d+)(s|m|h|d)$/.exec(value);
  if (duration) return checked(new Date(now.getTime() - Number(duration[1]) * UNIT_MS[duration[2] as keyof typeof UNIT_MS]));
  const today = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
  if (value === 'today') return day(today, edge);
  if (value === 'yesterday') return day(today - DAY_MS, edge);
  const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (date) {
    const [year, month, dayOfMonth] = date.slice(1).map(Number) as [number, number, number];
    const start = new Date(Date.UTC(year, month - 1, dayOfMonth));
    start.setUTCFullYear(year);
    if (start.getUTCMonth() !== month - 1 || start.getUTCDate() !== dayOfMonth) return { problem: `names a day that does not exist: "${text}"` };
    return day(start.getTime(), edge);
  }
  if (!value.includes('T')) return refused;
  const instant = parseIsoInstant(value);
  return instant;
}

function day(startMs: number, edge: Edge): Date | { problem: string } {
  return checked(new Date(edge === 'since' ? startMs : startMs + DAY_MS - 1));
}

function checked(time: Date): Date | { problem: string } {
  const problem = timeRangeProblem(time);
  return problem ? { problem } : time;
}

/** Why a --since/--until pair cannot select anything, or null. */
export function rangeProblem(since: Date | undefined, until: Date | undefined): string | null {
  if (since && until && until.getTime() < since.getTime()) {
    return `--until (${until.toISOString()}) is before --since (${since.toISOString()}): no record can lie between`;
  }
  return null;
}
