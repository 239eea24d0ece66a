import pino, { type Logger } from 'pino';

/** JSON logs on stderr, so stdout stays free for command output (JSON lines, summaries). */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } }, pino.destination(2));
}

export type { Logger };
