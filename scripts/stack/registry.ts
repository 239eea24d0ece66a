/**
 * The schema registry of the local stack: Apicurio Registry 3.0.9 (its Confluent-compatible API at
 * /apis/ccompat/v7) on 127.0.0.1:8081, its runnable distribution fetched from Maven Central into
 * .stack/registry/app and checked against its pinned digest, schemas kept in an H2 file so that they
 * survive restarts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { RedemptionError } from '../../lib/errors.js';
import { verifyArtifacts } from './artifacts.js';
import { mvn } from './maven.js';
import { ADDRESSES, type ManagedService, type Print, STACK_DIR, stackMarker } from './service.js';

/**
 * Apicurio Registry 3.0.x is the newest line that runs on Java 17 (3.1 and later are built for Java 21);
 * Maven Central serves its runnable distribution as a tar.gz with the classifier "all".
 */
const APICURIO_ARTIFACT = 'io.apicurio:apicurio-registry-app:3.0.9:tar.gz:all';

const registryDir = join(STACK_DIR, 'registry');

function install(print: Print): void {
  const app = join(registryDir, 'app');
  if (existsSync(join(app, '.complete'))) return;
  rmSync(app, { recursive: true, force: true });
  // dependency:copy takes the artifact alone (Central does not serve the parent POM its descriptor
  // names); tar unpacks it, since the plugin's unpack goal skips archives it believes it has seen.
  const download = join(registryDir, 'download');
  mvn(['dependency:copy', `-Dartifact=${APICURIO_ARTIFACT}`, `-DoutputDirectory=${download}`, '-Dmdep.overWriteReleases=true'], 'Apicurio Registry', print);
  const archive = readdirSync(download).find((f) => f.endsWith('.tar.gz'));
  if (!archive) throw new RedemptionError('STACK_FAILED', `no Apicurio archive in ${download} after mvn dependency:copy`);
  // Before tar reads a byte of it.
  verifyArtifacts('registry', download);
  print('Apicurio Registry: the archive matches its pinned SHA-256');
  mkdirSync(app, { recursive: true });
  const untar = spawnSync('tar', ['-xzf', join(download, archive), '-C', app], { stdio: 'inherit' });
  if (untar.status !== 0) throw new RedemptionError('STACK_FAILED', `unpacking ${archive} failed (exit ${untar.status})`);
  rmSync(download, { recursive: true, force: true });
  writeFileSync(join(app, '.complete'), '');
}

export async function registryAnswers(): Promise<boolean> {
  try {
    const response = await fetch(`http://${ADDRESSES.registry.host}:${ADDRESSES.registry.port}/apis/ccompat/v7/subjects`, {
      signal: AbortSignal.timeout(2000),
    });
    return response.ok;
  } catch {
    return false;
  }
}

export const registry: ManagedService = {
  name: 'registry',
  dir: registryDir,
  address: ADDRESSES.registry,
  install,
  command() {
    const runner = readdirSync(join(registryDir, 'app')).find((f) => f.endsWith('-runner.jar'));
    if (!runner) throw new RedemptionError('STACK_FAILED', `no *-runner.jar in ${join(registryDir, 'app')}; remove the folder and run again`);
    return {
      args: [
        stackMarker('registry'),
        '-Xms128m',
        '-Xmx512m',
        // The registry answers a handful of schema look-ups (clients cache them): its optimising
        // compiler's work never paid for itself here, 17 of the 33 s of CPU it took in a test-suite run
        // (its threads' CPU, 2026-12-05). The client compiler and the serial collector suffice.
        '-XX:TieredStopAtLevel=1',
        '-XX:+UseSerialGC',
        `-Dquarkus.http.host=${ADDRESSES.registry.host}`,
        `-Dquarkus.http.port=${ADDRESSES.registry.port}`,
        // Schemas survive a restart: ids written into Kafka messages must keep meaning the same schema.
        `-Dapicurio.datasource.url=jdbc:h2:file:${join(registryDir, 'db', 'registry')};DB_CLOSE_ON_EXIT=FALSE`,
        '-Dquarkus.log.level=WARN',
        '-Dquarkus.log.category."io.quarkus".level=INFO',
        '-jar',
        join(registryDir, 'app', runner),
      ],
    };
  },
  ready: registryAnswers,
};
