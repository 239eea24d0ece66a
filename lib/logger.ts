import pino, { type Logger } from 'pino';

import { humanDestination } from './log-format.js';
import { redact } from './secrets.js';

/**
 * Logs on stderr, so stdout stays free for command output (JSON lines, summaries): JSON lines, or lines
 * for a person when stderr is a terminal (lib/log-format.ts). For an interactive command whose progress
 * bars and summary a person reads, JSON lines to `file` instead.
 */
export function createLogger(level: string, bindings: Record<string, unknown> = {}, file?: string): Logger {
  // Every line is scrubbed of known secrets just before it is written: an error a library logs (a failed
  // connection's message, a stack) may quote a URL or a setting we cannot redact at the source.
  const destination =
    file !== undefined
      ? pino.destination({ dest: file, mkdir: true, sync: true })
      : process.stderr.isTTY === true
        ? humanDestination(process.stderr)
        : pino.destination(2);
  return pino({ level, base: { pid: process.pid, ...bindings }, hooks: { streamWrite: redact } }, destination);
}

export type { Logger };
