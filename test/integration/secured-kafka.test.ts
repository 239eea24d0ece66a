import { mkdtempSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { IsolatedPipeline } from './helpers.js';

/**
 * The Kafka security settings reach the client the commands make. The shared broker speaks plaintext
 * without SASL, so a client that really asks for SASL or TLS is refused by it: status must then say
 * Kafka answers but is not usable (and nothing is produced), where the same command without those
 * settings works.
 */
describe('Kafka security settings reach the client', () => {
  const p = new IsolatedPipeline();
  const dir = mkdtempSync(join(tmpdir(), 'secured-kafka-'));
  const passwordFile = join(dir, 'kafka-password');
  writeFileSync(passwordFile, 'a-password\n');
  let listener: Server | undefined;
  beforeAll(() => p.setUp());
  afterAll(async () => {
    listener?.close();
    await p.cleanup();
  });

  it('without them, the plaintext broker is usable', async () => {
    const result = await p.cli(['status']);
    expect(result.stdout).toMatch(/^ {2}kafka\s+127\.0\.0\.1:9092\s+up: answers, logged in and usable$/m);
  });

  it('with SASL (SCRAM-SHA-512, password from a file), the client performs a SASL handshake the broker refuses', async () => {
    const sasl = { KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'pipeline', KAFKA_SASL_PASSWORD_FILE: passwordFile };
    const result = await p.cli(['status'], sasl);
    expect(result.code).toBe(1);
    // The broker's answer to a SaslHandshake on its plaintext listener: the client did ask for SASL.
    expect(result.stdout).toMatch(/^ {2}kafka\s+127\.0\.0\.1:9092\s+NOT USABLE: answers, but Request is not valid given the current SASL state$/m);
    const produce = await p.cli(['produce', '--generate', '10', '--no-progress'], sasl);
    expect(produce.code).toBe(1);
    expect([...(await p.endOffsets(p.config.redemptionTopic)).values()].every((end) => end === 0)).toBe(true);
  });

  it('with PLAIN, the same; and the warning that PLAIN without TLS sends the password in clear', async () => {
    const result = await p.cli(['status'], { KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'pipeline', KAFKA_SASL_PASSWORD: 'a-password' });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^ {2}kafka\s+127\.0\.0\.1:9092\s+NOT USABLE: answers, but Request is not valid given the current SASL state$/m);
    expect(result.stderr).toContain('KAFKA_SASL_MECHANISM=plain without KAFKA_SSL=true');
  });

  it('with TLS, the client starts a TLS handshake (a ClientHello) the plaintext listener cannot finish', async () => {
    const result = await p.cli(['status'], { KAFKA_SSL: 'true' });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /^ {2}kafka\s+127\.0\.0\.1:9092\s+NOT USABLE: answers, but Connection error: Client network socket disconnected before secure TLS connection was established$/m,
    );
    // What the client sends first, caught by a listener of the test's own: a TLS handshake record
    // (content type 22, version 3.x) holding a ClientHello (handshake type 1), not a Kafka request.
    const first = new Promise<Buffer>((resolve) => {
      listener = createServer((socket) => socket.once('data', (bytes: Buffer) => (resolve(bytes), socket.destroy())));
    });
    const port = await new Promise<number>((resolve) => listener!.listen(0, '127.0.0.1', () => resolve((listener!.address() as AddressInfo).port)));
    const caught = await p.cli(['status'], { KAFKA_SSL: 'true', KAFKA_BROKERS: `127.0.0.1:${port}` });
    expect(caught.code).toBe(1);
    const bytes = await first;
    expect([bytes[0], bytes[1], bytes[5]]).toEqual([0x16, 0x03, 0x01]);
  });

  it('an unreadable password file stops the command at start, naming the setting', async () => {
    const result = await p.cli(['consume', '--exit-when-idle', '1'], {
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'pipeline',
      KAFKA_SASL_PASSWORD_FILE: join(dir, 'nope'),
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/KAFKA_SASL_PASSWORD_FILE: cannot read ".*nope": no such file or directory/);
  });
});
