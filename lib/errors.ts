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
  'DRAIN_INCOMPLETE',
  'REPLAY_AHEAD_OF_LIVE',
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
 * A message that can never be processed, however often it is retried: it goes to the dead-letter topic
 * at once with this reason. Everything else is retried.
 */
export class UnprocessableMessageError extends RedemptionError {
  constructor(code: 'MESSAGE_UNDECODABLE' | 'MESSAGE_TOO_LARGE' | 'REQUEST_INVALID', message: string, cause?: unknown) {
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
