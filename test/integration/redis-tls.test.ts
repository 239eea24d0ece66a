import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { issueCertificate, makeCertificateAuthority } from '../../scripts/stack/certificates.js';
import { uniqueSecret } from './credentials.js';
import { freePort, IsolatedPipeline, waitUntil } from './helpers.js';

/**
 * Redis over TLS with an ACL user: a redis-server of this test's own (TLS only, on a free port, no
 * persistence; the shared Redis is not touched), its certificate signed by a CA made here. The pipeline
 * runs through it with `rediss://USER:PASSWORD@...` and REDIS_CA_FILE; without the CA, or without TLS,
 * it is refused.
 */
describe('Redis over rediss:// with an ACL user and a private CA', () => {
  const dir = mkdtempSync(join(tmpdir(), 'redis-tls-'));
  const password = uniqueSecret();
  let port = 0;
  let server: ChildProcess | undefined;
  let p: IsolatedPipeline;

  beforeAll(async () => {
    const at = (f: string) => join(dir, f);
    makeCertificateAuthority(dir, { subject: 'redis test CA', days: 2 });
    issueCertificate(dir, { name: 'redis', subject: '127.0.0.1', days: 2, subjectAltName: 'IP:127.0.0.1' });
    port = await freePort();
    server = spawn(
      'redis-server',
      [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--tls-cert-file',
        at('redis.pem'),
        '--tls-key-file',
        at('redis.key'),
        '--tls-ca-cert-file',
        at('ca.pem'),
        '--tls-auth-clients',
        'no',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--user',
        'default',
        'off',
        '--user',
        'pipeline',
        'on',
        `>${password}`,
        '~*',
        '+@all',
      ],
      { stdio: 'ignore' },
    );
    await waitUntil(
      'the TLS redis-server to listen',
      () =>
        new Promise<boolean>((resolve) => {
          const socket = createConnection({ host: '127.0.0.1', port });
          socket.once('connect', () => (socket.destroy(), resolve(true)));
          socket.once('error', () => resolve(false));
        }),
      20_000,
    );
    p = new IsolatedPipeline({ REDIS_URL: `rediss://pipeline:${password}@127.0.0.1:${port}`, REDIS_CA_FILE: join(dir, 'ca.pem') });
    await p.setUp();
  });
  afterAll(async () => {
    await p?.cleanup();
    server?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('the pipeline runs through it, and status says it is usable', async () => {
    expect((await p.cli(['coupons', 'generate', '--count', '5', '--prefix', 'RTLS', '--quota', '10'])).code).toBe(0);
    expect((await p.cli(['produce', '--generate', '300', '--coupons', '6', '--coupon-prefix', 'RTLS', '--no-progress'])).code).toBe(0);
    const consumed = await p.cli(['consume', '--exit-when-idle', '1']);
    expect(consumed.code, consumed.stderr).toBe(0);
    // Redis was used for every flush, over TLS, and never failed (a failure would fall back to MySQL).
    expect(consumed.stdout).toContain('Redis errors 0');
    expect(Number(/Redis round trips (\d+)/.exec(consumed.stdout)?.[1])).toBeGreaterThan(0);
    expect((await p.cli(['verify', '--no-progress'])).stdout).toContain('EQUAL');
    const status = await p.cli(['status']);
    expect(status.code, status.stdout).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`redis\\s+127\\.0\\.0\\.1:${port}\\s+up: answers, logged in and usable`));
    // The consumer's flush marker went through TLS to this server.
    expect(status.stdout).toMatch(/last flush \d{4}-/);
    expect(status.stdout + status.stderr + consumed.stderr).not.toContain(password);
  });

  it('without the CA, or without TLS, Redis is not usable', async () => {
    const noCa = await p.cli(['status'], { REDIS_CA_FILE: '' });
    expect(noCa.code).toBe(1);
    expect(noCa.stdout).toMatch(/^ {2}redis\s+\S+\s+NOT USABLE: answers, but self-signed certificate in certificate chain$/m);
    const plain = await p.cli(['status'], { REDIS_CA_FILE: '', REDIS_URL: `redis://pipeline:${password}@127.0.0.1:${port}` });
    expect(plain.code).toBe(1);
    // The TLS-only server resets a connection that does not open with a ClientHello (while the client reads or writes).
    expect(plain.stdout).toMatch(/^ {2}redis\s+\S+\s+NOT USABLE: answers, but (read|write) ECONNRESET$/m);
  });
});
