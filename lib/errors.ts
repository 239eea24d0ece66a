/**
 * The project's error codes. Every error we raise on purpose carries one of these, whether it can be
 * retried, and the error that caused it, so callers decide on `retriable` and never on message text.
 */
export const ERROR_CODES = [
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
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class RedemptionError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'RedemptionError';
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** One bad setting: the environment variable's name and why its value was refused. */
export interface SettingProblem {
  setting: string;
  problem: string;
}

export class ConfigError extends RedemptionError {
  readonly problems: readonly SettingProblem[];

  constructor(problems: readonly SettingProblem[]) {
    super('CONFIG_INVALID', `invalid configuration:\n${problems.map((p) => `  ${p.setting}: ${p.problem}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * Why a message went to the dead-letter topic (its `dlq.code` header):
 * - MESSAGE_UNDECODABLE: no value, not the Confluent wire format, an unknown schema id, a schema that
 *   is not a request schema, or a body that does not decode;
 * - MESSAGE_TOO_LARGE: larger than MAX_MESSAGE_BYTES;
 * - REQUEST_INVALID: decoded, but fails validation (empty or control characters in ids, a time out of
 *   range, a key that is not the coupon code, ...);
 * - STORAGE_REFUSED: valid, but MySQL refused to store it (a data error found by splitting the flush);
 * - WRONG_PARTITION: valid, but not in the partition its key hashes to with murmur2: its producer
 *   partitions differently (consumers/partition-contract.ts); `redeem dlq redrive` sends it again.
 */
export const DEAD_LETTER_CODES = [
  'MESSAGE_UNDECODABLE',
  'MESSAGE_TOO_LARGE',
  'REQUEST_INVALID',
  'STORAGE_REFUSED',
  'WRONG_PARTITION',
] as const satisfies readonly ErrorCode[];
export type DeadLetterCode = (typeof DEAD_LETTER_CODES)[number];

/**
 * A message that can never be processed, however often it is retried: it goes to the dead-letter topic
 * at once with this reason. Everything else is retried.
 */
export class UnprocessableMessageError extends RedemptionError {
  declare readonly code: DeadLetterCode;

  constructor(code: DeadLetterCode, message: string, cause?: unknown) {
    super(code, message, { retriable: false, cause });
    this.name = 'UnprocessableMessageError';
  }
}

/** A line, row or field of user input that was refused, with where it was found. */
export class InputError extends RedemptionError {
  constructor(code: 'CSV_INVALID' | 'INPUT_INVALID' | 'REQUEST_INVALID', message: string) {
    super(code, message);
    this.name = 'InputError';
  }
}
