/**
 * What every `redeem` command line shares: output, argument parsers, a Runtime per command, and how a
 * failure ends the process (exit 2 for bad settings or arguments, 1 for anything else, the error named).
 */
import { type Command, InvalidArgumentError } from 'commander';

import { ConfigError, RedemptionError } from '../lib/errors.js';
import { Runtime } from '../lib/runtime.js';
import { redactProcessOutput, rememberSecretsFromEnv } from '../lib/secrets.js';
import { parseIsoInstant } from '../lib/time-input.js';
import { ExpectedFailure, explainFailure, oneLine, requireServices, type Service, stackTrace } from './failures.js';

// First of all: nothing this process prints (output, logs, errors, stack traces) may carry a secret it
// was given.
rememberSecretsFromEnv(process.env);
redactProcessOutput();

export const print = (line: string) => process.stdout.write(`${line}\n`);

export function int(min: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min) throw new InvalidArgumentError(`must be a whole number >= ${min}`);
    return Number(value);
  };
}

export function share(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('must be a number between 0 and 1');
  return n;
}

export function duration(value: string): number {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(value);
  if (!match) throw new InvalidArgumentError('must be a duration like 90s, 5m or 1h');
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

export function isoDate(value: string): Date {
  const parsed = parseIsoInstant(value);
  if (!(parsed instanceof Date)) throw new InvalidArgumentError(parsed.problem);
  return parsed;
}

/**
 * Runs a command with a Runtime built from the environment, and always closes it. `needs`: the services
 * the command talks to, checked first so that one that is down fails the command at once, in one line.
 */
export async function withRuntime<T>(work: (rt: Runtime) => Promise<T>, options: { logFile?: string; needs?: readonly Service[] } = {}): Promise<T> {
  const rt = Runtime.fromEnv({}, options);
  try {
    if (options.needs) await requireServices(rt.config, options.needs);
    return await work(rt);
  } catch (error) {
    // Named here, where the settings are known: which service a refused connection went to.
    const expected = explainFailure(error, rt.config);
    throw expected === null || error instanceof ExpectedFailure ? error : new ExpectedFailure(expected, 1, { cause: error });
  } finally {
    await rt.close();
  }
}

/** `withRuntime` for a command that needs these services (checked first). */
export function withServices<T>(needs: readonly Service[], work: (rt: Runtime) => Promise<T>): Promise<T> {
  return withRuntime(work, { needs });
}

/** Every service: for `cleanup`, which removes something in each. */
export const ALL_SERVICES: readonly Service[] = ['kafka', 'registry', 'redis', 'mysql'];

/**
 * What the pipeline cannot start without. Not Redis: the consumer decides through MySQL while Redis is
 * away and uses it again once it is back, so a consumer may start during a Redis outage.
 */
export const PIPELINE_SERVICES: readonly Service[] = ['kafka', 'registry', 'mysql'];

/** `--verbose` anywhere on the command line: failures with their stack traces. */
export const verbose = () => process.argv.includes('--verbose');

function fail(line: string, code: number, error: unknown): never {
  process.stderr.write(`redeem: ${line}\n`);
  if (verbose()) process.stderr.write(`${stackTrace(error)}\n`);
  process.exit(code);
}

/**
 * A default as a person would type it, for `--help`: commander shows JSON (`[0.25,0.5]`,
 * `{"FETCH_MAX_WAIT_MS":"10"}`, `"2026-01-01T00:00:00.000Z"`). Undefined when JSON is already right.
 */
export function humanDefault(value: unknown): string | undefined {
  if (value instanceof Date) return value.toISOString().replace('.000Z', 'Z');
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.join(',');
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    return entries.length === 0 ? 'none' : entries.map(([k, v]) => `${k}=${String(v)}`).join(',');
  }
  return undefined;
}

/** Every option of every command shows its default as a person writes it (see `humanDefault`). */
function humanDefaults(command: Command): void {
  for (const option of command.options) {
    if (option.defaultValueDescription !== undefined) continue;
    const shown = humanDefault(option.defaultValue);
    if (shown !== undefined) option.defaultValueDescription = shown;
  }
  for (const sub of command.commands) humanDefaults(sub);
}

/**
 * Parses the command line and runs the command, then exits with its status: 2 for bad arguments or
 * settings, 130 after Ctrl-C, 1 for any other failure. A failure is one line on stderr (the stack trace
 * with --verbose); results went to stdout, logs to stderr.
 */
export function runProgram(program: Command): void {
  program.option('--verbose', 'on failure, print the stack trace too');
  humanDefaults(program);
  program.parseAsync(process.argv).then(
    () => process.exit(process.exitCode ?? 0),
    (error: unknown) => {
      if (error instanceof ConfigError || error instanceof InvalidArgumentError) fail(error.message, 2, error);
      const expected = explainFailure(error);
      if (expected !== null) fail(expected, error instanceof ExpectedFailure ? error.exitCode : 1, error);
      if (error instanceof RedemptionError) fail(`${error.code}: ${error.message}`, 1, error);
      fail(`${oneLine(error)}${verbose() ? '' : ' (unexpected: run again with --verbose for the stack trace)'}`, 1, error);
    },
  );
}
