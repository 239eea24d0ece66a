/** A query's result as printed: column names and rows of JSON-able values. */
export interface ResultTable {
  columns: string[];
  rows: (string | number | boolean | null | object)[][];
}

export const QUERY_FORMATS = ['table', 'csv', 'json'] as const;
export type QueryFormat = (typeof QUERY_FORMATS)[number];

const text = (value: unknown): string => (value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value));

/** Aligned columns with a header rule; numbers to the right. Empty result: the header and "(0 rows)". */
function table(result: ResultTable): string {
  const cells = result.rows.map((row) => row.map(text));
  const widths = result.columns.map((name, i) => Math.max(name.length, ...cells.map((row) => row[i]!.length)));
  const numeric = result.columns.map((_, i) => result.rows.length > 0 && result.rows.every((row) => row[i] === null || typeof row[i] === 'number'));
  const line = (values: string[]) =>
    values
      .map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(result.columns), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)];
  out.push(`(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})`);
  return out.join('\n');
}

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled; null is empty. */
function csv(result: ResultTable): string {
  const field = (value: unknown) => {
    const s = text(value);
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return [result.columns.map(field).join(','), ...result.rows.map((row) => row.map(field).join(','))].join('\n');
}

/** One JSON object per row (JSON lines). */
function jsonLines(result: ResultTable): string {
  return result.rows.map((row) => JSON.stringify(Object.fromEntries(result.columns.map((c, i) => [c, row[i]])))).join('\n');
}

export function formatResult(result: ResultTable, format: QueryFormat): string {
  return { table, csv, json: jsonLines }[format](result);
}
