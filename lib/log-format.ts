/**
 * Log lines for a person: when stderr is a terminal, each pino JSON line is rewritten as
 * `12:03:04 WARN  message  key=value ...` (time, level, message, then the fields a person needs). Where
 * stderr is a file or a pipe (a supervisor, CI, a log shipper) the lines stay JSON.
 */
const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** Fields every line has, or that a person does not need to read (the process id is in the prompt). */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'err', 'v']);

function fieldText(value: unknown): string {
  if (typeof value === 'string') return /\s/.test(value) || value === '' ? JSON.stringify(value) : value;
  return JSON.stringify(value);
}

/** One JSON log line as text; a line that is not JSON is returned as it is. */
export function formatLogLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof entry !== 'object' || entry === null) return line;
  const time = typeof entry.time === 'number' ? new Date(entry.time).toISOString().slice(11, 19) : '';
  const level = (LEVELS[entry.level as number] ?? String(entry.level)).padEnd(5);
  const fields = Object.entries(entry)
    .filter(([key, value]) => !HIDDEN.has(key) && value !== undefined)
    .map(([key, value]) => `${key}=${fieldText(value)}`);
  const err = entry.err as { message?: unknown } | undefined;
  if (err && typeof err.message === 'string') fields.push(`error=${JSON.stringify(err.message)}`);
  const text = [time, level, typeof entry.msg === 'string' ? entry.msg : ''].filter(Boolean).join(' ');
  return `${fields.length > 0 ? `${text}  ${fields.join(' ')}` : text}\n`;
}

/** A pino destination that writes each line formatted for a person to `out` (a terminal). */
export function humanDestination(out: { write(text: string): unknown }): { write(chunk: string): void } {
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line.trim() !== '') out.write(formatLogLine(line));
    },
  };
}
