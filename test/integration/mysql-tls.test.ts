import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { issueCertificate, makeCertificateAuthority } from '../../scripts/stack/certificates.js';
import { freePort, IsolatedPipeline, waitUntil } from './helpers.js';

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args[0]} failed: ${result.stderr || result.stdout}`);
}

/**
 * MySQL over TLS: the shared MariaDB has TLS disabled (and its configuration is not ours to change), so
 * the test starts a MariaDB of its own from the installed binaries, in a temporary data directory on a
 * free port, with a certificate from a CA made here and require_secure_transport on: a connection without
 * TLS is refused. The pipeline migrates, consumes and verifies against it with MYSQL_SSL_CA_FILE.
 */
describe('MySQL over TLS with MYSQL_SSL_CA_FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mysql-tls-'));
  const at = (f: string) => join(dir, f);
  let port = 0;
  let server: ChildProcess | undefined;
  let p: IsolatedPipeline;

  beforeAll(async () => {
    makeCertificateAuthority(dir, { subject: 'mysql test CA', days: 2 });
    makeCertificateAuthority(dir, { name: 'other-ca', subject: 'some other CA', days: 2 });
    issueCertificate(dir, { name: 'server', subject: '127.0.0.1', days: 2, subjectAltName: 'IP:127.0.0.1' });
    run('mariadb-install-db', ['--no-defaults', `--datadir=${at('data')}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db']);
    port = await freePort();
    server = spawn(
      '/usr/sbin/mariadbd',
      [
        '--no-defaults',
        '--user=root',
        `--datadir=${at('data')}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--socket=${at('mysqld.sock')}`,
        `--pid-file=${at('mysqld.pid')}`,
        '--skip-log-bin',
        '--innodb-buffer-pool-size=16M',
        '--performance-schema=OFF',
        `--ssl-ca=${at('ca.pem')}`,
        `--ssl-cert=${at('server.pem')}`,
        `--ssl-key=${at('server.key')}`,
        '--require-secure-transport=ON',
      ],
      { stdio: 'ignore' },
    );
    await waitUntil(
      'the TLS MariaDB to listen',
      () =>
        new Promise<boolean>((resolve) => {
          const socket = createConnection({ host: '127.0.0.1', port });
          socket.once('connect', () => (socket.destroy(), resolve(true)));
          socket.once('error', () => resolve(false));
        }),
      30_000,
    );
    p = new IsolatedPipeline({ MYSQL_URL: `mysql://root@127.0.0.1:${port}/redeem_tls`, MYSQL_SSL_CA_FILE: at('ca.pem') });
    await p.setUp();
  });
  afterAll(async () => {
    await p?.cleanup();
    server?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('the pipeline migrates, consumes and verifies over TLS', async () => {
    expect((await p.cli(['migrate'])).stdout).toContain('already up to date');
    expect((await p.cli(['coupons', 'generate', '--count', '5', '--prefix', 'MTLS', '--quota', '10'])).code).toBe(0);
    expect((await p.cli(['produce', '--generate', '300', '--coupons', '6', '--coupon-prefix', 'MTLS', '--no-progress'])).code).toBe(0);
    const consumed = await p.cli(['consume', '--exit-when-idle', '1']);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect((await p.cli(['verify', '--no-progress'])).stdout).toContain('EQUAL');
    const status = await p.cli(['status']);
    expect(status.stdout).toMatch(new RegExp(`mysql\\s+127\\.0\\.0\\.1:${port}/redeem_tls\\s+up: answers, logged in and usable`));
    // The sessions really are encrypted: the server reports the cipher of this very connection.
    const [rows] = (await p.rt.knex().raw("SHOW SESSION STATUS LIKE 'Ssl_cipher'")) as [{ Value: string }[]];
    expect(rows[0]?.Value).not.toBe('');
  });

  it('migrate as the administrator over TLS makes a runtime user that must use TLS', async () => {
    const result = await p.cli(['migrate'], {
      MYSQL_ADMIN_URL: `mysql://root@127.0.0.1:${port}`,
      MYSQL_URL: `mysql://tls_app:app-Pw-1234@127.0.0.1:${port}/redeem_tls`,
      MYSQL_RUNTIME_USER_HOST: '127.0.0.1',
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("runtime user 'tls_app'@'127.0.0.1': SELECT, INSERT, UPDATE on redeem_tls, nothing else; TLS required");
    const [rows] = (await p.rt.knex().raw("SHOW CREATE USER 'tls_app'@'127.0.0.1'")) as [Record<string, string>[]];
    expect(Object.values(rows[0]!)[0]).toMatch(/REQUIRE SSL/);
    const status = await p.cli(['status'], { MYSQL_URL: `mysql://tls_app:app-Pw-1234@127.0.0.1:${port}/redeem_tls` });
    expect(status.stdout).toMatch(/mysql\s+\S+\s+up: answers, logged in and usable/);
  });

  it('without the CA (no TLS) the server refuses; with another CA the client refuses the server', async () => {
    const noCa = await p.cli(['status'], { MYSQL_SSL_CA_FILE: '' });
    expect(noCa.code).toBe(1);
    // The same user logs in with the CA (the tests above): without TLS the server turns it away.
    expect(noCa.stdout).toMatch(/^ {2}mysql\s+\S+\s+NOT USABLE: answers, but Access denied for user 'root'@'localhost' \(using password: NO\)$/m);
    const otherCa = await p.cli(['status'], { MYSQL_SSL_CA_FILE: at('other-ca.pem') });
    expect(otherCa.code).toBe(1);
    expect(otherCa.stdout).toMatch(/^ {2}mysql\s+\S+\s+NOT USABLE: answers, but self-signed certificate in certificate chain$/m);
  });
});
