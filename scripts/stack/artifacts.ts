/**
 * The stack (and the bench's Kafka Connect peer) runs jars fetched from Maven Central. Maven checks each download against the .sha1 served
 * beside it (strictly, with -C), which only proves the file is the one the server meant to send; the
 * SHA-256 digests pinned in the repository (artifacts.sha256) prove it is the one this project was
 * tested with. Every artifact is checked against them before it is used, and any difference (a changed
 * byte, a missing file, a file nobody pinned) stops the stack with the file's name.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';

import { RedemptionError } from '../../lib/errors.js';
import { STACK_ASSETS_DIR } from '../checkout-dir.js';

export const PINNED_DIGESTS_FILE = join(STACK_ASSETS_DIR, 'artifacts.sha256');

/** The stack's brokers, its registry, and the bench's Kafka Connect peer (bench/connect-peer.ts). */
export type ArtifactGroup = 'kafka' | 'registry' | 'connect';

/** `sha256  group/file` lines (sha256sum's format), comments and blank lines ignored. */
export function parsePinnedDigests(text: string): Map<string, string> {
  const pinned = new Map<string, string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = /^([0-9a-f]{64}) {2}((?:kafka|registry|connect)\/[^/\s]+)$/.exec(line);
    if (!match) throw new RedemptionError('STACK_FAILED', `${PINNED_DIGESTS_FILE} line ${i + 1} is not "<sha256>  kafka|registry|connect/<file>": ${line}`);
    pinned.set(match[2]!, match[1]!);
  });
  return pinned;
}

export function loadPinnedDigests(file = PINNED_DIGESTS_FILE): Map<string, string> {
  return parsePinnedDigests(readFileSync(file, 'utf8'));
}

/** SHA-256 of a file, read in chunks (the registry's archive is 100 MiB). */
export function sha256File(path: string): string {
  const hash = createHash('sha256');
  const buffer = Buffer.alloc(1 << 20);
  const fd = openSync(path, 'r');
  try {
    for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) hash.update(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * Checks the files of one group in `dir` (dotfiles such as the .complete marker aside) against the
 * pinned digests: each must be pinned and match, and each pinned file must be there. Returns every
 * problem found, empty when all is well.
 */
export function artifactProblems(group: ArtifactGroup, dir: string, pinned: Map<string, string>): string[] {
  const problems: string[] = [];
  const present = readdirSync(dir).filter((f) => !f.startsWith('.'));
  for (const file of present.sort()) {
    const expected = pinned.get(`${group}/${file}`);
    if (expected === undefined) {
      problems.push(`${file}: not pinned in ${PINNED_DIGESTS_FILE} (an artifact this project never checked)`);
      continue;
    }
    const actual = sha256File(join(dir, file));
    if (actual !== expected) problems.push(`${file}: SHA-256 ${actual}, pinned ${expected}`);
  }
  for (const key of pinned.keys()) {
    const [g, file] = key.split('/') as [string, string];
    if (g === group && !present.includes(file)) problems.push(`${file}: pinned but missing`);
  }
  return problems;
}

/** Throws, naming every bad file and what to do, unless the group's files in `dir` match their pins. */
export function verifyArtifacts(group: ArtifactGroup, dir: string, pinned: Map<string, string> = loadPinnedDigests()): void {
  const problems = artifactProblems(group, dir, pinned);
  if (problems.length > 0) {
    throw new RedemptionError(
      'STACK_FAILED',
      `${group} artifacts in ${dir} do not match the SHA-256 digests pinned in ${PINNED_DIGESTS_FILE}; not using them:\n  ${problems.join('\n  ')}\n` +
        `Remove ${dir} and run ${group === 'connect' ? 'the bench' : '`stack up`'} again to fetch them afresh; if the digests still differ, the files served are not the ones this project was tested with.`,
    );
  }
}
