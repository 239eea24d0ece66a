import pino, { type Logger } from 'pino';

import { redact } from './secrets.js';

/**
 * JSON logs on stderr, so stdout stays free for command output (JSON lines, summaries); or, for an
 * interactive command whose progress bars and summary a person reads, to `file`.
 */
export function createLogger(level: string, bindings: Record<string, unknown> = {}, file?: string): Logger {
  // Every line is scrubbed of known secrets just before it is written: an error a library logs (a failed
  // connection's message, a stack) may quote a URL or a setting we cannot redact at the source.
  const destination = file === undefined ? pino.destination(2) : pino.destination({ dest: file, mkdir: true, sync: true });
  return pino({ level, base: { pid: process.pid, ...bindings }, hooks: { streamWrite: redact } }, destination);
}

export type { Logger };
