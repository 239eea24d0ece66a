/**
 * Certificates made with openssl, for the secured local stack (`stack up --secure`) and for the tests
 * that put a TLS server of their own in front of the pipeline. Everything lives in one folder: the CA
 * as `ca.key`/`ca.pem` (or another name), each certificate as `<name>.key`/`<name>.pem`.
 */
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { RedemptionError } from '../../lib/errors.js';

export function openssl(args: readonly string[], what: string): void {
  const result = spawnSync('openssl', args, { encoding: 'utf8' });
  if (result.error) throw new RedemptionError('STACK_FAILED', `cannot run openssl (${what}): ${result.error.message}`);
  if (result.status !== 0) throw new RedemptionError('STACK_FAILED', `${what} failed (openssl exit ${result.status}): ${result.stderr || result.stdout}`);
}

/** A self-signed CA: `<dir>/<name>.key` and `<dir>/<name>.pem` (name `ca` unless given). */
export function makeCertificateAuthority(dir: string, o: { subject: string; days: number; name?: string }): void {
  const at = (f: string) => join(dir, f);
  const name = o.name ?? 'ca';
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      at(`${name}.key`),
      '-out',
      at(`${name}.pem`),
      '-days',
      String(o.days),
      '-subj',
      `/CN=${o.subject}`,
    ],
    `making the CA ${o.subject}`,
  );
}

/**
 * A key and a certificate for `subject`, `<dir>/<name>.key` and `<dir>/<name>.pem`, signed by the CA in
 * `<dir>/ca.*`. A server's certificate names its addresses in `subjectAltName` (e.g. `IP:127.0.0.1`):
 * clients check the address they dialled against it.
 */
export function issueCertificate(dir: string, o: { name: string; subject: string; days: number; subjectAltName?: string }): void {
  const at = (f: string) => join(dir, f);
  openssl(
    ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', at(`${o.name}.key`), '-out', at(`${o.name}.csr`), '-subj', `/CN=${o.subject}`],
    `making the ${o.name} key`,
  );
  const extensions: string[] = [];
  if (o.subjectAltName) {
    writeFileSync(at(`${o.name}.ext`), `subjectAltName=${o.subjectAltName}\n`);
    extensions.push('-extfile', at(`${o.name}.ext`));
  }
  openssl(
    [
      'x509',
      '-req',
      '-in',
      at(`${o.name}.csr`),
      '-CA',
      at('ca.pem'),
      '-CAkey',
      at('ca.key'),
      '-CAcreateserial',
      '-out',
      at(`${o.name}.pem`),
      '-days',
      String(o.days),
      ...extensions,
    ],
    `signing the ${o.name} certificate`,
  );
  for (const f of [`${o.name}.csr`, `${o.name}.ext`]) rmSync(at(f), { force: true });
}
