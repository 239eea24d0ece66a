import { setTimeout as sleep } from 'node:timers/promises';

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
      await sleep(delay);
    }
  }
}

/**
 * A KafkaJS error that waiting can cure: a broker down or restarting, a leader moving, a timeout (KafkaJS
 * marks these `retriable`, and gives up on them only after its own retries). A refusal (a message too
 * large for the topic, an authorization error, an unknown topic) is not, nor is a bug of ours.
 */
export function isRetriableKafkaError(error: unknown): boolean {
  if (!(error instanceof Error) || !error.name.startsWith('KafkaJS')) return false;
  if (error.name === 'KafkaJSNonRetriableError') {
    // A retrier inside another (a metadata refresh or a connect inside a send) that spent its retries
    // hands the outer one KafkaJSNumberOfRetriesExceeded, which counts as not retriable there: the outer
    // retrier then gives up too, wrapping it in this with the original error as the cause. A broker that
    // restarted for longer than the inner retries (40 s on a busy host) failed `produce`, whose producer
    // retries without limit, this way. What decides is the original error.
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error && cause.name !== 'KafkaJSNonRetriableError' && isRetriableKafkaError(cause);
  }
  if (error.name === 'KafkaJSNumberOfRetriesExceeded') return true;
  return (error as { retriable?: unknown }).retriable === true;
}

/**
 * MySQL refused a statement for the data in it: a value out of range, too long, of the wrong kind, a
 * NULL where none may be, a check or foreign key failed (SQLSTATE classes 22 and 23, and the codes
 * MariaDB and MySQL report under HY000 for the same). Retrying the same rows can never succeed.
 */
const DATA_ERRNOS = new Set([1048, 1263, 1264, 1265, 1292, 1300, 1365, 1366, 1367, 1406, 1411, 1416, 1690, 3819, 4025]);

export function isMysqlDataError(error: unknown): boolean {
  if (!(error instanceof Error) || isRetriableStorageError(error)) return false;
  const { sqlState, errno } = error as { sqlState?: unknown; errno?: unknown };
  if (typeof errno === 'number' && DATA_ERRNOS.has(errno)) return true;
  return typeof sqlState === 'string' && (sqlState.startsWith('22') || sqlState.startsWith('23'));
}
