/** MySQL error codes that a retry can cure: lock conflicts, a lost race on a key, a server going away. */
const RETRIABLE_MYSQL_CODES = new Set([
  'ER_LOCK_DEADLOCK',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_DUP_ENTRY',
  'ER_SERVER_SHUTDOWN',
  'ER_CON_COUNT_ERROR',
  'ER_QUERY_INTERRUPTED',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
]);

export function isRetriableStorageError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'KnexTimeoutError') return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && RETRIABLE_MYSQL_CODES.has(code)) return true;
  const retriable = (error as { retriable?: unknown }).retriable;
  if (retriable === true) return true;
  return /connection (is in closed state|lost)|Can't add new command when connection is in closed state/i.test(error.message);
}

export interface RetryOptions {
  isRetriable(error: unknown): boolean;
  onRetry(error: unknown, attempt: number, delayMs: number): void;
  /** Checked before each new attempt: stop retrying (and throw the last error) once it returns true. */
  shouldStop?(): boolean;
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Runs `work` until it succeeds, backing off exponentially (with jitter, capped) after each retriable
 * failure. There is no attempt limit: for a payments pipeline a stalled partition that heals by itself
 * beats a request dropped or a process crash-looping; a non-retriable error is thrown at once.
 */
export async function retryUntilDone<T>(work: () => Promise<T>, options: RetryOptions): Promise<T> {
  const initial = options.initialDelayMs ?? 100;
  const max = options.maxDelayMs ?? 5000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (!options.isRetriable(error) || options.shouldStop?.()) throw error;
      const delay = Math.min(max, initial * 2 ** Math.min(attempt - 1, 16)) * (0.5 + Math.random() / 2);
      options.onRetry(error, attempt, Math.round(delay));
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** Any error KafkaJS raised (connection, broker, retries exhausted), as opposed to a bug of ours. */
export function isKafkaError(error: unknown): boolean {
  return error instanceof Error && error.name.startsWith('KafkaJS');
}
