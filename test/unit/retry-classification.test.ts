import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import { describe, expect, it } from 'vitest';

import { isMysqlDataError, isRetriableKafkaError, isRetriableStorageError } from '../../lib/retry.js';

const mysqlError = (code: string, errno: number, sqlState: string) => Object.assign(new Error(code), { code, errno, sqlState });
// KafkaJS's typings leave out the options its error constructors take (src/errors.js: `{ cause }`).
const NonRetriable = KafkaJSNonRetriableError as unknown as new (e: Error | string, o?: { cause?: Error }) => KafkaJSNonRetriableError;
const kafkaError = (name: string, retriable: boolean) => Object.assign(new Error(name), { name, retriable });

describe('failure classification', () => {
  it('treats what MySQL refuses for the data as a data error, never as retriable', () => {
    for (const e of [
      mysqlError('ER_TRUNCATED_WRONG_VALUE', 1292, '22007'),
      mysqlError('ER_DATA_TOO_LONG', 1406, '22001'),
      mysqlError('ER_WARN_DATA_OUT_OF_RANGE', 1264, '22003'),
      mysqlError('ER_TRUNCATED_WRONG_VALUE_FOR_FIELD', 1366, 'HY000'),
      mysqlError('ER_SIGNAL_EXCEPTION', 1644, '22003'),
    ]) {
      expect(isMysqlDataError(e), e.message).toBe(true);
      expect(isRetriableStorageError(e), e.message).toBe(false);
    }
  });

  it('retries locks, deadlocks and lost connections, and never calls them data errors', () => {
    for (const e of [
      mysqlError('ER_LOCK_WAIT_TIMEOUT', 1205, 'HY000'),
      mysqlError('ER_LOCK_DEADLOCK', 1213, '40001'),
      mysqlError('ER_DUP_ENTRY', 1062, '23000'),
    ]) {
      expect(isRetriableStorageError(e), e.message).toBe(true);
      expect(isMysqlDataError(e), e.message).toBe(false);
    }
    expect(isMysqlDataError(mysqlError('ER_NO_SUCH_TABLE', 1146, '42S02'))).toBe(false);
  });

  it('retries only the Kafka errors KafkaJS marks retriable', () => {
    expect(isRetriableKafkaError(kafkaError('KafkaJSConnectionError', true))).toBe(true);
    expect(isRetriableKafkaError(kafkaError('KafkaJSNumberOfRetriesExceeded', false))).toBe(true);
    expect(isRetriableKafkaError(kafkaError('KafkaJSProtocolError', false))).toBe(false); // MESSAGE_TOO_LARGE
    expect(isRetriableKafkaError(kafkaError('KafkaJSNonRetriableError', false))).toBe(false);
    expect(isRetriableKafkaError(new TypeError('x is undefined'))).toBe(false);
  });

  it('retries what an outer KafkaJS retrier gave up on only because an inner one spent its retries', () => {
    // As KafkaJS's retrier (src/retry/index.js) builds them: the inner one's exhausted retries, which the
    // outer one does not retry, wrapped with the original error as the cause.
    const wrapped = (e: Error) => new NonRetriable(new KafkaJSNumberOfRetriesExceeded(e, { retryCount: 8, retryTime: 5000 }), { cause: e });
    expect(isRetriableKafkaError(wrapped(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092')))).toBe(true);
    const tooLarge = new KafkaJSProtocolError(
      Object.assign(new Error('The request included a message larger than the max message size'), { retriable: false }),
    );
    expect(isRetriableKafkaError(wrapped(tooLarge))).toBe(false);
    expect(isRetriableKafkaError(new KafkaJSNonRetriableError('aborted'))).toBe(false);
  });
});
