import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type CliResult, freePort, IsolatedPipeline, runCli } from './helpers.js';

/**
 * `stack up --secure` runs a SASL_SSL broker (SCRAM-SHA-512 and PLAIN over TLS, its own CA) on ports
 * of its own, in a stack folder of this test's own, beside the shared plaintext broker, which it does not
 * touch. The pipeline then runs end to end through it with the settings it writes to client.env: the
 * positive test of the Kafka TLS and SASL settings. Wrong passwords and a missing CA are refused.
 */
describe('the pipeline over SASL_SSL, against `stack up --secure`', () => {
  const stackDir = mkdtempSync(join(tmpdir(), 'redeem-secure-stack-'));
  let stackEnv: Record<string, string>;
  let clientEnv: Record<string, string>;
  let p: IsolatedPipeline | undefined;
  const outputs: CliResult[] = [];

  beforeAll(async () => {
    stackEnv = {
      STACK_DIR: stackDir,
      STACK_SECURE_KAFKA_PORT: String(await freePort()),
      STACK_SECURE_CONTROLLER_PORT: String(await freePort()),
      STACK_SECURE_SASL_PLAINTEXT_PORT: String(await freePort()),
    };
  });
  afterAll(async () => {
    await p?.cleanup();
    await runCli(['stack', 'down'], stackEnv);
    // If down could not stop it (a failed start), by its pid file: this test's broker only.
    const pidFile = join(stackDir, 'kafka-secure', 'kafka-secure.pid');
    try {
      const pid = Number(readFileSync(pidFile, 'utf8'));
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(stackDir)) process.kill(pid, 'SIGKILL');
    } catch {
      // not running
    }
    rmSync(stackDir, { recursive: true, force: true });
  });

  it('starts the secured broker and writes the client settings, readable by their owner only', async () => {
    const up = await runCli(['stack', 'up', '--secure'], stackEnv, 300_000);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toContain('kafka: already up on 127.0.0.1:9092');
    expect(up.stdout).toContain('Apache Kafka: every jar matches its pinned SHA-256');
    expect(up.stdout).toContain(`kafka-secure: SASL_SSL on 127.0.0.1:${stackEnv.STACK_SECURE_KAFKA_PORT}`);
    const envFile = join(stackDir, 'kafka-secure', 'client.env');
    clientEnv = Object.fromEntries(
      readFileSync(envFile, 'utf8')
        .split('\n')
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(clientEnv.KAFKA_SASL_MECHANISM).toBe('scram-sha-512');
    expect(clientEnv.KAFKA_SSL_CERT_FILE).toMatch(/client\.pem$/);
    expect(statSync(clientEnv.KAFKA_SSL_KEY_FILE!).mode & 0o077).toBe(0);
    for (const f of [envFile, clientEnv.KAFKA_SASL_PASSWORD_FILE!, join(stackDir, 'kafka-secure', 'server.properties')])
      expect(statSync(f).mode & 0o077).toBe(0);
    expect(statSync(join(stackDir, 'kafka-secure')).mode & 0o077).toBe(0);
    // The shared plaintext broker is still the one answering on 9092, untouched.
    expect(spawnSync('ss', ['-ltn']).stdout.toString()).toMatch(/(?:127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]):9092\s/);
  });

  it('runs the pipeline end to end through SCRAM-SHA-512 over TLS, and answers PLAIN too', async () => {
    p = new IsolatedPipeline(clientEnv);
    await p.setUp();
    const run = async (args: string[], extra: Record<string, string> = {}) => {
      const result = await p!.cli(args, extra);
      outputs.push(result);
      return result;
    };
    const status = await run(['status']);
    expect(status.stdout).toMatch(new RegExp(`kafka\\s+127\\.0\\.0\\.1:${stackEnv.STACK_SECURE_KAFKA_PORT}\\s+up: answers, logged in and usable`));
    expect((await run(['coupons', 'generate', '--count', '10', '--prefix', 'TLS', '--quota', '20'])).code).toBe(0);
    const produced = await run(['produce', '--generate', '800', '--coupons', '12', '--coupon-prefix', 'TLS', '--no-progress']);
    expect(produced.code, produced.stderr).toBe(0);
    expect([...(await p.endOffsets(p.config.redemptionTopic)).values()].reduce((a, b) => a + b, 0)).toBe(800);
    const consumed = await run(['consume', '--exit-when-idle', '1']);
    expect(consumed.code, consumed.stderr).toBe(0);
    const verify = await run(['verify', '--no-progress']);
    expect(verify.stdout).toContain('EQUAL');
    const records = await p.auditRecords(800);
    expect(new Set(records.map((r) => `${r.source_partition}/${r.source_offset}`)).size).toBe(800);
    const plain = await run(['status'], { KAFKA_SASL_MECHANISM: 'plain' });
    expect(plain.stdout).toMatch(/kafka\s+\S+\s+up: answers, logged in and usable/);
    expect(plain.stderr).not.toContain('without KAFKA_SSL=true');
  });

  it('SASL without TLS (SASL_PLAINTEXT listener): SCRAM works end to end, PLAIN logs in with its warning', async () => {
    const clear = {
      KAFKA_BROKERS: `127.0.0.1:${stackEnv.STACK_SECURE_SASL_PLAINTEXT_PORT}`,
      KAFKA_SSL: 'false',
      KAFKA_SSL_CA_FILE: '',
      KAFKA_SSL_CERT_FILE: '',
      KAFKA_SSL_KEY_FILE: '',
    };
    const produced = await p!.cli(['produce', '--generate', '200', '--coupons', '12', '--coupon-prefix', 'TLS', '--no-progress'], clear);
    outputs.push(produced);
    expect(produced.code, produced.stderr).toBe(0);
    const consumed = await p!.cli(['consume', '--exit-when-idle', '1'], clear);
    outputs.push(consumed);
    expect(consumed.code, consumed.stderr).toBe(0);
    const verify = await p!.cli(['verify', '--no-progress'], clear);
    outputs.push(verify);
    expect(verify.stdout).toContain('EQUAL');
    const plain = await p!.cli(['status'], { ...clear, KAFKA_SASL_MECHANISM: 'plain' });
    outputs.push(plain);
    expect(plain.stdout).toMatch(/kafka\s+\S+\s+up: answers, logged in and usable/);
    expect(plain.stderr).toContain('KAFKA_SASL_MECHANISM=plain without KAFKA_SSL=true');
  });

  /** `status` with `env` on top of the client settings: what it says of Kafka (it must refuse). */
  async function refusal(env: Record<string, string>): Promise<string> {
    const result = await p!.cli(['status'], env);
    outputs.push(result);
    expect(result.code, result.stdout + result.stderr).toBe(1);
    const line = result.stdout.split('\n').find((l) => /^ {2}kafka\s/.test(l)) ?? '';
    return line.replace(/^ {2}kafka\s+\S+\s+/, '');
  }

  it('refuses a wrong password, a client without a certificate, and a broker certificate it cannot verify', async () => {
    expect(await refusal({ KAFKA_SASL_PASSWORD_FILE: '', KAFKA_SASL_PASSWORD: 'not-the-password' })).toMatch(
      /^NOT USABLE: answers, but SASL SCRAM SHA512 authentication failed/,
    );
    expect(await refusal({ KAFKA_SSL_CERT_FILE: '', KAFKA_SSL_KEY_FILE: '' })).toMatch(
      /^NOT USABLE: answers, but Connection error: .*SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:.*SSL alert number 42$/,
    );
    expect(await refusal({ KAFKA_SSL_CA_FILE: '' })).toBe('NOT USABLE: answers, but Connection error: self-signed certificate in certificate chain');
  });

  it('refuses a client without SASL on either listener, and a wrong password on SASL_PLAINTEXT', async () => {
    const noSasl = { KAFKA_SASL_MECHANISM: '', KAFKA_SASL_USERNAME: '', KAFKA_SASL_PASSWORD_FILE: '' };
    expect(await refusal(noSasl)).toBe('NOT USABLE: answers, but Closed connection');
    const clear = {
      KAFKA_BROKERS: `127.0.0.1:${stackEnv.STACK_SECURE_SASL_PLAINTEXT_PORT}`,
      KAFKA_SSL: 'false',
      KAFKA_SSL_CA_FILE: '',
      KAFKA_SSL_CERT_FILE: '',
      KAFKA_SSL_KEY_FILE: '',
    };
    expect(await refusal({ ...clear, ...noSasl })).toBe('NOT USABLE: answers, but Closed connection');
    expect(await refusal({ ...clear, KAFKA_SASL_PASSWORD_FILE: '', KAFKA_SASL_PASSWORD: 'not-the-password' })).toMatch(
      /^NOT USABLE: answers, but SASL SCRAM SHA512 authentication failed/,
    );
  });

  it('never printed the SASL password', () => {
    const password = readFileSync(clientEnv.KAFKA_SASL_PASSWORD_FILE!, 'utf8').trim();
    expect(password.length).toBeGreaterThanOrEqual(16);
    expect(outputs.length).toBeGreaterThanOrEqual(8);
    for (const o of outputs) expect(o.stdout + o.stderr).not.toContain(password);
  });
});
