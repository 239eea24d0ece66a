import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { issueCertificate, makeCertificateAuthority } from '../../scripts/stack/certificates.js';
import { uniqueSecret } from './credentials.js';
import { IsolatedPipeline } from './helpers.js';

/**
 * The registry behind TLS and HTTP basic auth, as it is deployed behind a TLS-terminating proxy. The
 * shared Apicurio has neither, so the test puts a small https front of its own before it (certificate
 * from a CA made here, 401 without the right credentials) and forwards every request to the real
 * registry: the schemas, ids and compatibility checks are Apicurio's. The pipeline registers, encodes
 * and decodes through it with SCHEMA_REGISTRY_USERNAME, SCHEMA_REGISTRY_PASSWORD_FILE and
 * SCHEMA_REGISTRY_CA_FILE.
 */
describe('the schema registry over https with basic auth', () => {
  const dir = mkdtempSync(join(tmpdir(), 'registry-auth-'));
  const password = uniqueSecret();
  const passwordFile = join(dir, 'registry-password');
  let front: Server;
  let port = 0;
  const seen = { authorized: 0, refused: 0, unauthenticated: 0 };
  let p: IsolatedPipeline;

  beforeAll(async () => {
    const at = (f: string) => join(dir, f);
    makeCertificateAuthority(dir, { subject: 'registry test CA', days: 2 });
    issueCertificate(dir, { name: 'front', subject: '127.0.0.1', days: 2, subjectAltName: 'IP:127.0.0.1' });
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    const expected = `Basic ${Buffer.from(`pipeline:${password}`).toString('base64')}`;
    front = createServer({ key: readFileSync(at('front.key')), cert: readFileSync(at('front.pem')) }, (req, res) => {
      if (req.headers.authorization !== expected) {
        seen.refused += 1;
        if (req.headers.authorization === undefined) seen.unauthenticated += 1;
        res.writeHead(401, { 'www-authenticate': 'Basic realm="registry"' }).end();
        return;
      }
      seen.authorized += 1;
      const { authorization: _auth, host: _host, ...headers } = req.headers;
      void _auth;
      void _host;
      const upstream = httpRequest({ host: '127.0.0.1', port: 8081, path: req.url, method: req.method, headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.writeHead(502).end());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', () => resolve()));
    port = (front.address() as { port: number }).port;
    p = new IsolatedPipeline({
      SCHEMA_REGISTRY_URL: `https://127.0.0.1:${port}/apis/ccompat/v7`,
      SCHEMA_REGISTRY_USERNAME: 'pipeline',
      SCHEMA_REGISTRY_PASSWORD_FILE: passwordFile,
      SCHEMA_REGISTRY_CA_FILE: join(dir, 'ca.pem'),
    });
    await p.setUp();
  });
  afterAll(async () => {
    await p?.cleanup();
    await new Promise((resolve) => front?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('the pipeline registers, produces, consumes and verifies through it', async () => {
    expect((await p.cli(['coupons', 'generate', '--count', '5', '--prefix', 'REG', '--quota', '10'])).code).toBe(0);
    const produced = await p.cli(['produce', '--generate', '300', '--coupons', '6', '--coupon-prefix', 'REG', '--no-progress']);
    expect(produced.code, produced.stderr).toBe(0);
    const consumed = await p.cli(['consume', '--exit-when-idle', '1']);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect((await p.cli(['verify', '--no-progress'])).stdout).toContain('EQUAL');
    const status = await p.cli(['status']);
    expect(status.stdout).toMatch(new RegExp(`registry\\s+https://127\\.0\\.0\\.1:${port}/apis/ccompat/v7\\s+up: answers, logged in and usable`));
    expect(seen.authorized).toBeGreaterThan(0);
    expect(seen.refused).toBe(0);
    for (const r of [produced, consumed, status]) expect(r.stdout + r.stderr).not.toContain(password);
  });

  it('refuses a wrong password (401) and a certificate it cannot verify', async () => {
    const wrong = await p.cli(['status'], { SCHEMA_REGISTRY_PASSWORD_FILE: '', SCHEMA_REGISTRY_PASSWORD: 'not-the-password' });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/registry\s+\S+\s+NOT USABLE: answers, but the registry refuses these credentials \(HTTP 401\)/);
    expect(seen.refused).toBe(1);
    // No credentials at all where the registry wants them: refused too, and asked without any.
    const none = await p.cli(['status'], { SCHEMA_REGISTRY_USERNAME: '', SCHEMA_REGISTRY_PASSWORD_FILE: '', SCHEMA_REGISTRY_PASSWORD: '' });
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/^ {2}registry\s+\S+\s+NOT USABLE: answers, but the registry refuses these credentials \(HTTP 401\)$/m);
    expect(seen.refused).toBe(2);
    expect(seen.unauthenticated).toBe(1);
    const produce = await p.cli(['produce', '--generate', '10', '--no-progress'], {
      SCHEMA_REGISTRY_PASSWORD_FILE: '',
      SCHEMA_REGISTRY_PASSWORD: 'not-the-password',
    });
    expect(produce.code).toBe(1);
    const noCa = await p.cli(['status'], { SCHEMA_REGISTRY_CA_FILE: '' });
    expect(noCa.code).toBe(1);
    expect(noCa.stdout).toMatch(/^ {2}registry\s+\S+\s+NOT USABLE: answers, but unable to verify the first certificate$/m);
  });
});
