import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { RedemptionError } from '../../lib/errors.js';
import { artifactProblems, loadPinnedDigests, parsePinnedDigests, sha256File, verifyArtifacts } from '../../scripts/stack/artifacts.js';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** A folder of "jars" and the digests pinned for them, as after a good download. */
function downloaded(): { dir: string; pinned: Map<string, string> } {
  const dir = mkdtempSync(join(tmpdir(), 'artifacts-test-'));
  const pinned = new Map<string, string>();
  for (const name of ['kafka-clients-4.1.1.jar', 'kafka_2.13-4.1.1.jar']) {
    const bytes = Buffer.from(`PK\u0003\u0004 the contents of ${name} `.repeat(5000));
    writeFileSync(join(dir, name), bytes);
    pinned.set(`kafka/${name}`, sha256(bytes));
  }
  writeFileSync(join(dir, '.complete'), '');
  return { dir, pinned };
}

describe('the stack checks what it fetched against pinned SHA-256 digests', () => {
  it('accepts the files as pinned', () => {
    const { dir, pinned } = downloaded();
    expect(artifactProblems('kafka', dir, pinned)).toEqual([]);
    expect(() => verifyArtifacts('kafka', dir, pinned)).not.toThrow();
  });

  it('refuses a tampered file, naming it and both digests', () => {
    const { dir, pinned } = downloaded();
    const file = join(dir, 'kafka-clients-4.1.1.jar');
    const bytes = readFileSync(file);
    const at = bytes.length - 100;
    bytes[at] = bytes[at]! ^ 0x01; // one bit
    writeFileSync(file, bytes);
    const problems = artifactProblems('kafka', dir, pinned);
    expect(problems).toEqual([`kafka-clients-4.1.1.jar: SHA-256 ${sha256(bytes)}, pinned ${pinned.get('kafka/kafka-clients-4.1.1.jar')}`]);
    let error: unknown;
    try {
      verifyArtifacts('kafka', dir, pinned);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RedemptionError);
    expect((error as RedemptionError).code).toBe('STACK_FAILED');
    expect((error as Error).message).toContain('do not match the SHA-256 digests pinned');
    expect((error as Error).message).toContain('kafka-clients-4.1.1.jar: SHA-256');
  });

  it('refuses a file nobody pinned and a pinned file that is missing', () => {
    const { dir, pinned } = downloaded();
    writeFileSync(join(dir, 'evil-1.0.jar'), 'PK');
    pinned.set('kafka/log4j-core-2.24.3.jar', '0'.repeat(64));
    expect(artifactProblems('kafka', dir, pinned)).toEqual([
      expect.stringMatching(/^evil-1\.0\.jar: not pinned in .*artifacts\.sha256/),
      'log4j-core-2.24.3.jar: pinned but missing',
    ]);
  });

  it('hashes files larger than its read buffer correctly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'artifacts-test-'));
    const bytes = Buffer.alloc(3 * (1 << 20) + 17, 7);
    writeFileSync(join(dir, 'big'), bytes);
    expect(sha256File(join(dir, 'big'))).toBe(sha256(bytes));
  });

  it('pins every artifact the stack fetches, in a file that parses', () => {
    const pinned = loadPinnedDigests();
    const kafka = [...pinned.keys()].filter((k) => k.startsWith('kafka/'));
    // The POM's direct dependencies and the registry archive that registry.ts names.
    for (const jar of ['kafka_2.13-4.1.1.jar', 'kafka-server-4.1.1.jar', 'slf4j-api-2.0.17.jar', 'log4j-slf4j2-impl-2.24.3.jar', 'log4j-core-2.24.3.jar'])
      expect(kafka).toContain(`kafka/${jar}`);
    expect(kafka.length).toBe(46);
    expect(pinned.get('registry/apicurio-registry-app-3.0.9-all.tar.gz')).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(new URL('../../scripts/stack/registry.ts', import.meta.url), 'utf8')).toContain("'io.apicurio:apicurio-registry-app:3.0.9:tar.gz:all'");
    expect(() => parsePinnedDigests('abc  kafka/x.jar')).toThrow(/line 1 is not/);
  });

  it("pins the bench's Kafka Connect peer too: the direct dependencies of its POM", () => {
    const connect = [...loadPinnedDigests().keys()].filter((k) => k.startsWith('connect/'));
    const pom = readFileSync(new URL('../../bench/connect/connect-pom.xml', import.meta.url), 'utf8');
    for (const [jar, version] of [
      ['connect-runtime-4.1.1.jar', '4.1.1'],
      ['debezium-connector-jdbc-3.3.1.Final.jar', '3.3.1.Final'],
      ['apicurio-registry-serdes-avro-serde-2.6.13.Final.jar', '2.6.13.Final'],
      ['mariadb-java-client-3.5.6.jar', '3.5.6'],
    ]) {
      expect(connect).toContain(`connect/${jar}`);
      expect(pom).toContain(`<version>${version}</version>`);
    }
    expect(connect.length).toBe(105);
  });
});
