/**
 * Fetching the stack's jars from Maven Central: `mvn` run quietly in the stack's folder with strict
 * checksums. What it fetched is then checked against the pinned SHA-256 digests (artifacts.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

import { RedemptionError } from '../../lib/errors.js';
import { type Print, STACK_DIR } from './service.js';

export function mvn(args: string[], what: string, print: Print): void {
  print(`fetching ${what} from Maven Central (first run only)...`);
  // A working directory of our own: run elsewhere, Maven plugins write `${project.basedir}/...` markers
  // into whatever directory the command was started from. No colour codes in our output either.
  mkdirSync(STACK_DIR, { recursive: true });
  // -C (--strict-checksums): a download whose .sha1/.md5 does not match fails, instead of Maven's
  // default of warning and using it. The pinned SHA-256 digests are checked on top (artifacts.ts).
  const result = spawnSync('mvn', ['-q', '-B', '-C', '-Dstyle.color=never', ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: STACK_DIR, encoding: 'utf8' });
  if (result.error) throw new RedemptionError('STACK_FAILED', `cannot run mvn (install Maven and Java 17): ${result.error.message}`);
  // Maven 3.8 writes ANSI resets even in batch mode with colour off: what it says is passed on without them.
  const said = `${result.stdout ?? ''}${result.stderr ?? ''}`.replace(/\x1b\[[0-9;]*m/g, '').trim();
  if (said !== '') print(said);
  if (result.status !== 0) throw new RedemptionError('STACK_FAILED', `mvn failed fetching ${what} (exit ${result.status})`);
}
