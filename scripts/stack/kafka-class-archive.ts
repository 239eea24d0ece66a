/**
 * Kafka's class-data archive (JDK class data sharing): the classes a broker loads at its start, recorded
 * once by a broker of its own that starts and stops, then mapped by every broker and storage tool of the
 * checkout (kafka.ts, `classArchiveArgs`). The suite starts a dozen brokers (the cluster profile, its
 * restarts, the outage tests' own brokers, the secured broker), most of them beside other work on 2 cores.
 *
 * A JVM that maps a damaged archive crashes, so an archive is only put in place whole (written under a
 * name of this process's own, then renamed) and after a JVM accepted it with sharing required. Anything
 * that goes wrong here is said and leaves the brokers to start as they did without it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

import { installKafkaJars, KAFKA_LIBS, kafkaClassArchive } from './kafka.js';
import { OwnKafka } from './own-servers.js';
import type { Print } from './service.js';

/** Writes the archive of this JDK and these jars unless it is there; returns its path, or null without one. */
export async function ensureKafkaClassArchive(print: Print): Promise<string | null> {
  installKafkaJars(print);
  const archive = kafkaClassArchive();
  if (archive === null || existsSync(archive)) return archive;
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
    print(`kafka: no class-data archive, brokers start without one: ${error instanceof Error ? error.message : String(error)}`);
    return null;
  } finally {
    rmSync(writing, { force: true });
  }
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

/** Archives of another JDK or of earlier jars: no JVM of this checkout maps them again. */
function removeOtherArchives(keep: string): void {
  const prefix = `${basename(KAFKA_LIBS)}.classes-`;
  for (const f of readdirSync(dirname(KAFKA_LIBS)))
    if (f.startsWith(prefix) && f.endsWith('.jsa') && join(dirname(KAFKA_LIBS), f) !== keep) rmSync(join(dirname(KAFKA_LIBS), f), { force: true });
}
