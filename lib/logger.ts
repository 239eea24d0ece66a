import pino, { type Logger } from 'pino';
import { redact } from './secrets.js';

/** JSON logs on stderr, so stdout stays free for command output (JSON lines, summaries). */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  // Every line is scrubbed of known secrets just before it is written: an error a library logs (a failed
  // connection's message, a stack) may quote a URL or a setting we cannot redact at the source.
  return pino({ level, base: { pid: process.pid, ...bindings }, hooks: { streamWrite: redact } }, pino.destination(2));
}

export type { Logger };
