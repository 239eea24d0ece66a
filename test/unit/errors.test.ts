import { describe, expect, it } from 'vitest';

import { ConfigError, ERROR_CODES, InputError, RedemptionError, UnprocessableMessageError } from '../../lib/errors.js';

describe('errors', () => {
  it('keeps a fixed list of codes', () => {
    expect(ERROR_CODES).toEqual([
      'CONFIG_INVALID',
      'REQUEST_INVALID',
      'MESSAGE_UNDECODABLE',
      'MESSAGE_TOO_LARGE',
      'SCHEMA_INCOMPATIBLE',
      'SCHEMA_REGISTRY_UNAVAILABLE',
      'CSV_INVALID',
      'INPUT_INVALID',
      'STACK_FAILED',
      'STORAGE_UNAVAILABLE',
      'STORAGE_REFUSED',
      'STORAGE_FAILED',
      'PUBLISH_FAILED',
      'CONSUMER_FAILED',
      'WRONG_PARTITION',
      'SCHEMA_REGISTRY_REFUSED',
      'DRAIN_INCOMPLETE',
      'REPLAY_AHEAD_OF_LIVE',
      'READ_STALLED',
      'TOPIC_MISSING',
      'SEND_TIMEOUT',
      'DECISION_TIMEOUT',
      'TOPICS_NOT_READY',
      'GRANTS_TOO_BROAD',
      'GROUP_BUSY',
    ]);
  });

  it('marks unprocessable messages as not retriable and keeps the cause', () => {
    const cause = new Error('bad bytes');
    const error = new UnprocessableMessageError('MESSAGE_UNDECODABLE', 'cannot decode', cause);
    expect(error).toBeInstanceOf(RedemptionError);
    expect(error.retriable).toBe(false);
    expect(error.cause).toBe(cause);
    expect(new InputError('CSV_INVALID', 'x').code).toBe('CSV_INVALID');
    expect(new ConfigError([{ setting: 'A', problem: 'b' }]).message).toBe('invalid configuration:\n  A: b');
  });
});
