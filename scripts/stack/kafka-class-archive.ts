/**
 * Kafka's class-data archive (JDK class data sharing): the classes a broker loads at its start, recorded
 * once by a broker of its own that starts and stops, then mapped by every broker and storage tool of the
 * checkout (kafka.ts, `classArchiveArgs`). The suite starts a dozen brokers (the cluster profile, its
 * restarts, the outage tests' own brokers, the secured broker), most of them beside other work on 2 cores.
 *
 * A JVM that maps a damaged archive crashes, so an archive is only put in place whole (written under a
 * name of this process's own, then renamed) and after a JVM accepted it with sharing required. Anything
 * that goes wrong here is said and leaves the brokers to start as they did without it. A recording that
 * failed is remembered beside the archive's place for a day (`RETRY_RECORDING_AFTER_MS`): every `stack up`
 * would otherwise spend a broker's start and stop (about 10 s) failing again; it says why instead.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

import { installKafkaJars, KAFKA_LIBS, kafkaClassArchive } from './kafka.js';
import { OwnKafka } from './own-servers.js';
import type { Print } from './service.js';

/** How long a failed recording stands before a `stack up` records again (or at once, its marker removed). */
export const RETRY_RECORDING_AFTER_MS = 24 * 60 * 60 * 1000;

/**
 * Writes the archive of this JDK and these jars (at `archiveAt`, when given) unless it is there, or a
 * recording of it failed within `RETRY_RECORDING_AFTER_MS`; returns its path, or null without one.
 */
export async function ensureKafkaClassArchive(print: Print, archiveAt?: string): Promise<string | null> {
  installKafkaJars(print);
  // Named by the jars too: known only once they are installed.
  const archive = archiveAt ?? kafkaClassArchive();
  if (archive === null || existsSync(archive)) return archive;
  const failed = recentRecordingFailure(archive);
  if (failed !== null) {
    print(
      `kafka: no class-data archive, brokers start without one: recording it failed ${failed} (tried again a day later, or at the next stack up once ${failedRecordingMarker(archive)} is removed)`,
    );
    return null;
  }
  print('kafka: recording the classes a broker loads at its start, so that later broker starts map them (first run only)...');
  const writing = `${archive}.writing-${process.pid}`;
  try {
    const broker = await OwnKafka.start({ archiveClassesTo: writing });
    // The JVM writes the archive as it exits after a controlled shutdown.
    await broker.stop('SIGTERM');
    const refusal = classArchiveRefusal(writing);
    if (refusal !== null) throw new Error(refusal);
    renameSync(writing, archive);
    removeOtherArchives(archive);
    print(`kafka: class-data archive written (${archive})`);
    return archive;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    recordingFailed(archive, reason);
    print(`kafka: no class-data archive, brokers start without one: ${reason}`);
    return null;
  } finally {
    rmSync(writing, { force: true });
  }
}

/** Where a failed recording of `archive` is remembered: named after it, so another JDK or other jars try afresh. */
export function failedRecordingMarker(archive: string): string {
  return `${archive}.failed`;
}

/** Remembers that recording `archive` failed, and why. Best effort: a marker that cannot be written means another try. */
export function recordingFailed(archive: string, reason: string, at = new Date()): void {
  try {
    writeFileSync(failedRecordingMarker(archive), `at ${at.toISOString()}: ${reason}\n`);
  } catch {
    // The next stack up records again.
  }
}

/** When and why recording `archive` failed, if it did less than `RETRY_RECORDING_AFTER_MS` before `now`; else null. */
export function recentRecordingFailure(archive: string, now = Date.now()): string | null {
  const marker = failedRecordingMarker(archive);
  if (!existsSync(marker) || now - statSync(marker).mtimeMs >= RETRY_RECORDING_AFTER_MS) return null;
  return readFileSync(marker, 'utf8').trim() || 'for a reason not recorded';
}

/**
 * Why a JVM does not take `archive` with sharing required (a run of Kafka's storage tool), or null when it
 * does. A missing, truncated or foreign archive is refused here, where the archive is only being checked.
 */
export function classArchiveRefusal(archive: string): string | null {
  if (!existsSync(archive)) return `${archive} was not written`;
  // A crashing JVM writes hs_err_pid<pid>.log into its working folder: one of its own, removed after.
  const cwd = mkdtempSync(join(tmpdir(), 'redeem-class-archive-'));
  try {
    const result = spawnSync(
      'java',
      [
        '-Xshare:on',
        `-XX:SharedArchiveFile=${archive}`,
        '-XX:TieredStopAtLevel=1',
        '-XX:+UseSerialGC',
        '-cp',
        `${KAFKA_LIBS}/*`,
        'kafka.tools.StorageTool',
        'random-uuid',
      ],
      { encoding: 'utf8', cwd },
    );
    if (result.status === 0) return null;
    const said = `${result.stderr ?? ''}${result.stdout ?? ''}`.trim().split('\n').slice(0, 3).join(' ');
    return `a JVM refused the archive ${basename(archive)} (exit ${result.status ?? result.signal}): ${said}`;
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

/**
 * Archives of another JDK or of earlier jars beside `keep`, and failures to record them: no JVM of this
 * checkout maps them again. Only `keep`'s own folder: an archive written elsewhere (`archiveAt`) leaves
 * the checkout's alone.
 */
function removeOtherArchives(keep: string): void {
  const prefix = `${basename(KAFKA_LIBS)}.classes-`;
  const dir = dirname(keep);
  for (const f of readdirSync(dir))
    if (f.startsWith(prefix) && (f.endsWith('.jsa') || f.endsWith('.jsa.failed')) && join(dir, f) !== keep) rmSync(join(dir, f), { force: true });
}
