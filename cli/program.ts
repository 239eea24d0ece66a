/**
 * What every `redeem` command line shares: output, argument parsers, a Runtime per command, and how a
 * failure ends the process (exit 2 for bad settings or arguments, 1 for anything else, the error named).
 */
import { type Command, InvalidArgumentError } from 'commander';
import { ConfigError, RedemptionError } from '../lib/errors.js';
import { Runtime } from '../lib/runtime.js';
import { redactProcessOutput, rememberSecretsFromEnv } from '../lib/secrets.js';
import { parseIsoInstant } from '../lib/time-input.js';

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

/** Runs a command with a Runtime built from the environment, and always closes it. */
export async function withRuntime<T>(work: (rt: Runtime) => Promise<T>): Promise<T> {
  const rt = Runtime.fromEnv();
  try {
    return await work(rt);
  } finally {
    await rt.close();
  }
}

/** Parses the command line and runs the command, then exits with its status. */
export function runProgram(program: Command): void {
  program.parseAsync(process.argv).then(
    () => process.exit(process.exitCode ?? 0),
    (error: unknown) => {
      if (error instanceof ConfigError) {
        process.stderr.write(`redeem: ${error.message}\n`);
        process.exit(2);
      }
      if (error instanceof InvalidArgumentError) {
        process.stderr.write(`redeem: ${error.message}\n`);
        process.exit(2);
      }
      const mysqlCode = (error as { code?: unknown }).code;
      if (mysqlCode === 'ER_NO_SUCH_TABLE' || mysqlCode === 'ER_BAD_DB_ERROR') {
        process.stderr.write(`redeem: the database in MYSQL_URL is missing or not migrated (${(error as Error).message}); run \`npm run redeem -- migrate\`\n`);
        process.exit(1);
      }
      const message = error instanceof RedemptionError ? `${error.code}: ${error.message}` : error instanceof Error ? (error.stack ?? error.message) : String(error);
      process.stderr.write(`redeem: ${message}\n`);
      process.exit(1);
    },
  );
}
