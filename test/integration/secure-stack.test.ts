import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import kafkajs, { type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { RedemptionClient } from '../../index.js';
import { loadConfig } from '../../lib/config.js';
import { kafkaSecurity } from '../../lib/connections.js';
import { upsertCoupons } from '../../lib/coupon-catalog.js';
import { createKafka, withAdmin } from '../../lib/kafka.js';
import { createLogger } from '../../lib/logger.js';
import { KAFKA_LIBS } from '../../scripts/stack/kafka.js';
import { decisionCoupons, request } from './fixtures.js';
import { type CliResult, freePort, IsolatedPipeline, REDEEM, runCli, waitUntil } from './helpers.js';

/**
 * `stack up --secure` runs a SASL_SSL broker (SCRAM-SHA-512 over TLS, its own CA, client certificates)
 * with the StandardAuthorizer, on ports of its own, in a stack folder of this test's own, beside the
 * shared plaintext broker, which it does not touch. The pipeline then runs end to end through it, each
 * step as its least-privilege identity (checkout, consumer, analyst, operator; `redeem acls --apply` as
 * the administrator grants them for this test's topics): the positive test of the Kafka TLS, SASL and
 * ACL settings. Wrong passwords, PLAIN, a missing CA, the controller listener without the administrator,
 * and each thing one identity may not do (docs/security.md) are refused, each with its own error.
 */
describe('the pipeline over SASL_SSL with ACLs, against `stack up --secure`', () => {
  const stackDir = mkdtempSync(join(tmpdir(), 'redeem-secure-stack-'));
  let stackEnv: Record<string, string>;
  /** Each identity's client settings, as `stack up --secure` wrote them. */
  const identity: Record<string, Record<string, string>> = {};
  let p: IsolatedPipeline | undefined;
  const outputs: CliResult[] = [];
  let serving: ChildProcess | undefined;
  const run = async (who: string, args: string[], extra: Record<string, string> = {}) => {
    const result = await p!.cli(args, { ...identity[who], ...extra });
    outputs.push(result);
    return result;
  };
  /** A KafkaJS client logged in as `who`, on the SASL_SSL listener unless `extra` says otherwise. */
  const kafkaAs = (who: string, extra: Record<string, string> = {}) =>
    createKafka(
      [extra.KAFKA_BROKERS ?? identity[who]!.KAFKA_BROKERS!],
      `acl-probe-${who}`,
      createLogger('fatal'),
      kafkaSecurity(loadConfig({ ...p!.env, ...identity[who], ...extra })),
      10_000,
      2,
    );
  const adminAs = <T>(who: string, work: (admin: Admin) => Promise<T>, extra: Record<string, string> = {}) => withAdmin(kafkaAs(who, extra), work);
  /** What refused `action`: the broker's error code where it names one, else the client's message. */
  const refusal = (action: Promise<unknown>) =>
    action.then(
      () => 'allowed',
      (e: { type?: string; message: string; groups?: { error?: { type?: string } }[] }) => e.type ?? e.groups?.[0]?.error?.type ?? e.message,
    );

  beforeAll(async () => {
    stackEnv = {
      STACK_DIR: stackDir,
      // The checkout's jars, which the stack's own start fetched and checked (a second fetch into this
      // folder was a Maven run and 10 s of CPU); the secured broker's start checks their digests again.
      KAFKA_LIBS_DIR: KAFKA_LIBS,
      STACK_SECURE_KAFKA_PORT: String(await freePort()),
      STACK_SECURE_CONTROLLER_PORT: String(await freePort()),
      STACK_SECURE_SASL_PLAINTEXT_PORT: String(await freePort()),
    };
  });
  afterAll(async () => {
    if (serving?.exitCode === null) serving.kill('SIGKILL');
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
    expect(existsSync(join(stackDir, 'kafka', 'libs')), "no jars of its own: the checkout's").toBe(false);
    expect(up.stdout).toContain(`kafka-secure: SASL_SSL on 127.0.0.1:${stackEnv.STACK_SECURE_KAFKA_PORT}`);
    for (const who of ['admin', 'checkout', 'consumer', 'analyst', 'operator']) {
      const envFile = join(stackDir, 'kafka-secure', `${who}.env`);
      identity[who] = Object.fromEntries(
        readFileSync(envFile, 'utf8')
          .split('\n')
          .filter((l) => /^[A-Z_]+=/.test(l))
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
      expect(identity[who]!.KAFKA_SASL_USERNAME).toBe(who);
      expect(identity[who]!.KAFKA_SASL_MECHANISM).toBe('scram-sha-512');
      for (const f of [envFile, identity[who]!.KAFKA_SASL_PASSWORD_FILE!]) expect(statSync(f).mode & 0o077).toBe(0);
    }
    expect(up.stdout).toContain("kafka-secure: topics redemption.requested, redemption.decided and checkout, consumer, analyst, operator's");
    expect(identity.consumer!.KAFKA_SSL_CERT_FILE).toMatch(/client\.pem$/);
    expect(statSync(identity.consumer!.KAFKA_SSL_KEY_FILE!).mode & 0o077).toBe(0);
    expect(statSync(join(stackDir, 'kafka-secure', 'server.properties')).mode & 0o077).toBe(0);
    expect(statSync(join(stackDir, 'kafka-secure')).mode & 0o077).toBe(0);
    // The shared plaintext broker is still the one answering on 9092, untouched.
    expect(spawnSync('ss', ['-ltn']).stdout.toString()).toMatch(/(?:127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]):9092\s/);
  });

  it('the administrator grants the identities for this pipeline; each runs its part end to end through SCRAM-SHA-512 over TLS', async () => {
    p = new IsolatedPipeline(identity.admin);
    const granted = await run('admin', ['acls', '--apply']);
    expect(granted.code, granted.stderr).toBe(0);
    expect(granted.stdout).toContain(`topics ${p.config.redemptionTopic}, ${p.config.auditTopic} and their dead letters present;`);
    await p.setUp();
    const status = await run('consumer', ['status']);
    expect(status.stdout).toMatch(new RegExp(`kafka\\s+127\\.0\\.0\\.1:${stackEnv.STACK_SECURE_KAFKA_PORT}\\s+up: answers, logged in and usable`));
    expect((await run('admin', ['coupons', 'generate', '--count', '10', '--prefix', 'TLS', '--quota', '20'])).code).toBe(0);
    const produced = await run('checkout', ['produce', '--generate', '800', '--coupons', '12', '--coupon-prefix', 'TLS', '--no-progress']);
    expect(produced.code, produced.stderr).toBe(0);
    expect([...(await p.endOffsets(p.config.redemptionTopic)).values()].reduce((a, b) => a + b, 0)).toBe(800);
    const consumed = await run('consumer', ['consume', '--exit-when-idle', '1']);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stderr).not.toMatch(/AUTHORIZATION_FAILED|not authorized/i);
    const verify = await run('operator', ['verify', '--no-progress']);
    expect(verify.stdout).toContain('EQUAL');
    const records = await p.auditRecords(800);
    expect(new Set(records.map((r) => `${r.source_partition}/${r.source_offset}`)).size).toBe(800);
    const stats = await run('analyst', ['audit', 'stats']);
    expect(stats.code, stats.stderr).toBe(0);
  });

  it('redeem() and serve as the checkout get their decisions; a dead letter, a replay and a redrive as the operator', async () => {
    await upsertCoupons(p!.rt.knex(), decisionCoupons());
    const checkout = loadConfig({ ...p!.env, ...identity.checkout });
    const client = await RedemptionClient.create({
      brokers: checkout.kafkaBrokers,
      schemaRegistryUrl: checkout.schemaRegistryUrl,
      topic: checkout.redemptionTopic,
      auditTopic: checkout.auditTopic,
      ...kafkaSecurity(checkout),
    });
    try {
      const total = async () => [...(await p!.endOffsets(p!.config.redemptionTopic)).values()].reduce((a, b) => a + b, 0);
      const before = await total();
      const decided = client.redeem(request('acl-1', 'OK', 'u-acl', 10, { order_id: 'o-acl-1' }), { timeoutMs: 90_000 });
      // `serve` as the checkout (its redeem() readers are `redeem-serve-decisions-*`).
      serving = spawn(process.execPath, [REDEEM, 'serve', '--port', '0'], {
        env: { ...process.env, ...p!.env, ...identity.checkout },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let served = '';
      serving.stdout!.on('data', (d: Buffer) => (served += d.toString()));
      await waitUntil('redeem serve to listen', async () => /serving (http:\/\/\S+?) /.test(served) || serving!.exitCode !== null, 60_000);
      const base = /serving (http:\/\/\S+?) /.exec(served)![1]!;
      const body = JSON.stringify(request('acl-2', 'OK', 'u-acl-2', 10, { order_id: 'o-acl-2' }));
      const answered = fetch(`${base}/v1/redemptions?wait=90000`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
      // Something the consumer cannot decode, sent by the checkout: the consumer dead-letters it.
      const raw = kafkaAs('checkout').producer();
      await raw.connect();
      await raw.send({ topic: p!.config.redemptionTopic, messages: [{ key: 'OK', value: 'not avro' }] });
      await raw.disconnect();
      // redeem() sends once its audit reader has joined: both requests in Kafka before the consumer runs.
      await waitUntil('the redeem() and serve requests in Kafka', async () => (await total()) === before + 3, 60_000);
      const consumed = await run('consumer', ['consume', '--exit-when-idle', '1']);
      expect(consumed.code, consumed.stderr).toBe(0);
      expect(consumed.stdout).toMatch(/dead letters\s+1\b/);
      expect((await decided).decision).toBe('APPLIED');
      const answer = await answered;
      expect(answer.status, await answer.clone().text()).toBe(200);
      expect(await answer.json()).toMatchObject({ decision: 'APPLIED', retry: false });
    } finally {
      await client.disconnect();
      serving?.kill('SIGTERM');
    }
    const replayed = await run('operator', ['replay', '--no-progress']);
    expect(replayed.code, replayed.stderr).toBe(0);
    const redriven = await run('operator', ['dlq', 'redrive', '--no-progress']);
    expect(redriven.code, redriven.stderr).toBe(0);
    expect(redriven.stdout).toMatch(/refused \(still not a valid request\) 1/);
  });

  it("refuses each identity what is not its own, with the broker's error", async () => {
    const { requested, decided } = { requested: p!.config.redemptionTopic, decided: p!.config.auditTopic };
    const group = p!.config.consumerGroup;
    // Deleting a topic, or altering one's configuration: only the administrator.
    expect(await refusal(adminAs('consumer', (a) => a.deleteTopics({ topics: [decided], timeout: 5000 })))).toBe('TOPIC_AUTHORIZATION_FAILED');
    expect(await refusal(adminAs('operator', (a) => a.deleteTopics({ topics: [requested], timeout: 5000 })))).toBe('TOPIC_AUTHORIZATION_FAILED');
    const retention = { type: kafkajs.ConfigResourceTypes.TOPIC, name: decided, configEntries: [{ name: 'retention.ms', value: '1000' }] };
    expect(await refusal(adminAs('consumer', (a) => a.alterConfigs({ validateOnly: false, resources: [retention] })))).toBe('TOPIC_AUTHORIZATION_FAILED');
    // Another identity's group: its offsets read, reset, the group deleted.
    expect(await refusal(adminAs('checkout', (a) => a.fetchOffsets({ groupId: group, topics: [requested] })))).toBe('GROUP_AUTHORIZATION_FAILED');
    const reset = { groupId: group, topic: requested, partitions: [{ partition: 0, offset: '0' }] };
    expect(await refusal(adminAs('checkout', (a) => a.setOffsets(reset)))).toBe('GROUP_AUTHORIZATION_FAILED');
    expect(await refusal(adminAs('analyst', (a) => a.setOffsets(reset)))).toBe('GROUP_AUTHORIZATION_FAILED');
    expect(await refusal(adminAs('analyst', (a) => a.deleteGroups([group])))).toBe('GROUP_AUTHORIZATION_FAILED');
    // ...while its own identity may (the operator only describes it: no reset, no delete).
    expect(await refusal(adminAs('consumer', (a) => a.fetchOffsets({ groupId: group, topics: [requested] })))).toBe('allowed');
    expect(await refusal(adminAs('operator', (a) => a.deleteGroups([group])))).toBe('GROUP_AUTHORIZATION_FAILED');
    // Another identity's topic: the analyst reads the audit stream, not the requests.
    const reader = kafkaAs('analyst').consumer({ groupId: `redeem-audit-probe-${p!.id}` });
    const crashed = new Promise<string>((resolve) => reader.on(reader.events.CRASH, ({ payload }) => resolve(payload.error.message)));
    await reader.connect();
    try {
      await reader.subscribe({ topic: requested, fromBeginning: true });
      await reader.run({ eachMessage: async () => undefined });
      expect(await crashed).toBe('Not authorized to access topics: [Topic authorization failed]');
    } finally {
      await reader.disconnect();
    }
    // The broker's configuration and the ACLs themselves: the administrator's.
    const brokerConfig = { type: kafkajs.ConfigResourceTypes.BROKER, name: '1', configEntries: [{ name: 'log.cleaner.threads', value: '2' }] };
    expect(await refusal(adminAs('consumer', (a) => a.alterConfigs({ validateOnly: false, resources: [brokerConfig] })))).toBe('CLUSTER_AUTHORIZATION_FAILED');
    const anyAcl = {
      resourceType: kafkajs.AclResourceTypes.ANY,
      resourcePatternType: kafkajs.ResourcePatternTypes.ANY,
      operation: kafkajs.AclOperationTypes.ANY,
      permissionType: kafkajs.AclPermissionTypes.ANY,
    };
    expect(await refusal(adminAs('operator', (a) => a.describeAcls(anyAcl)))).toBe('CLUSTER_AUTHORIZATION_FAILED');
    const acls = await adminAs('admin', (a) => a.describeAcls({ ...anyAcl, principal: 'User:consumer' }));
    expect(acls.resources.map((r) => r.resourceName)).toContain(group);
  });

  it('the controller listener admits the administrator only', async () => {
    const controller = { KAFKA_BROKERS: `127.0.0.1:${stackEnv.STACK_SECURE_CONTROLLER_PORT}` };
    const noLogin = {
      ...controller,
      KAFKA_SSL: 'false',
      KAFKA_SSL_CA_FILE: '',
      KAFKA_SSL_CERT_FILE: '',
      KAFKA_SSL_KEY_FILE: '',
      KAFKA_SASL_MECHANISM: '',
      KAFKA_SASL_USERNAME: '',
      KAFKA_SASL_PASSWORD_FILE: '',
    };
    expect(await refusal(adminAs('consumer', (a) => a.describeCluster(), noLogin))).toBe('Closed connection');
    expect(await refusal(adminAs('consumer', (a) => a.describeCluster(), controller))).toBe('UNSUPPORTED_SASL_MECHANISM');
    expect(await refusal(adminAs('consumer', (a) => a.describeCluster(), { ...controller, KAFKA_SASL_MECHANISM: 'plain' }))).toBe(
      'SASL PLAIN authentication failed: Authentication failed: Invalid username or password',
    );
    // The administrator logs in; KafkaJS then cannot speak a controller's API, which proves the login passed.
    expect(await refusal(adminAs('admin', (a) => a.describeCluster(), { ...controller, KAFKA_SASL_MECHANISM: 'plain' }))).toBe(
      'The Kafka server does not support the requested API version',
    );
  });

  it('SASL without TLS (SASL_PLAINTEXT listener): SCRAM works end to end, PLAIN is refused', async () => {
    const clear = {
      KAFKA_BROKERS: `127.0.0.1:${stackEnv.STACK_SECURE_SASL_PLAINTEXT_PORT}`,
      KAFKA_SSL: 'false',
      KAFKA_SSL_CA_FILE: '',
      KAFKA_SSL_CERT_FILE: '',
      KAFKA_SSL_KEY_FILE: '',
    };
    const produced = await run('checkout', ['produce', '--generate', '200', '--coupons', '12', '--coupon-prefix', 'TLS', '--no-progress'], clear);
    expect(produced.code, produced.stderr).toBe(0);
    const consumed = await run('consumer', ['consume', '--exit-when-idle', '1'], clear);
    expect(consumed.code, consumed.stderr).toBe(0);
    const verify = await run('operator', ['verify', '--no-progress'], clear);
    expect(verify.stdout).toContain('EQUAL');
    expect(await refusalOf({ ...clear, KAFKA_SASL_MECHANISM: 'plain' })).toBe(
      'NOT USABLE: answers, but The broker does not support the requested SASL mechanism',
    );
    expect(await refusalOf({ KAFKA_SASL_MECHANISM: 'plain' })).toBe('NOT USABLE: answers, but The broker does not support the requested SASL mechanism');
  });

  /** `status` with `env` on top of the client settings: what it says of Kafka (it must refuse). */
  async function refusalOf(env: Record<string, string>): Promise<string> {
    const result = await p!.cli(['status'], { ...identity.consumer, ...env });
    outputs.push(result);
    expect(result.code, result.stdout + result.stderr).toBe(1);
    const line = result.stdout.split('\n').find((l) => /^ {2}kafka\s/.test(l)) ?? '';
    return line.replace(/^ {2}kafka\s+\S+\s+/, '');
  }

  it('refuses a wrong password, a client without a certificate, and a broker certificate it cannot verify', async () => {
    expect(await refusalOf({ KAFKA_SASL_PASSWORD_FILE: '', KAFKA_SASL_PASSWORD: 'not-the-password' })).toMatch(
      /^NOT USABLE: answers, but SASL SCRAM SHA512 authentication failed/,
    );
    expect(await refusalOf({ KAFKA_SSL_CERT_FILE: '', KAFKA_SSL_KEY_FILE: '' })).toMatch(
      /^NOT USABLE: answers, but Connection error: .*SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:.*SSL alert number 42$/,
    );
    expect(await refusalOf({ KAFKA_SSL_CA_FILE: '' })).toBe('NOT USABLE: answers, but Connection error: self-signed certificate in certificate chain');
  });

  it('refuses a client without SASL on either listener, and a wrong password on SASL_PLAINTEXT', async () => {
    const noSasl = { KAFKA_SASL_MECHANISM: '', KAFKA_SASL_USERNAME: '', KAFKA_SASL_PASSWORD_FILE: '' };
    expect(await refusalOf(noSasl)).toBe('NOT USABLE: answers, but Closed connection');
    const clear = {
      KAFKA_BROKERS: `127.0.0.1:${stackEnv.STACK_SECURE_SASL_PLAINTEXT_PORT}`,
      KAFKA_SSL: 'false',
      KAFKA_SSL_CA_FILE: '',
      KAFKA_SSL_CERT_FILE: '',
      KAFKA_SSL_KEY_FILE: '',
    };
    expect(await refusalOf({ ...clear, ...noSasl })).toBe('NOT USABLE: answers, but Closed connection');
    expect(await refusalOf({ ...clear, KAFKA_SASL_PASSWORD_FILE: '', KAFKA_SASL_PASSWORD: 'not-the-password' })).toMatch(
      /^NOT USABLE: answers, but SASL SCRAM SHA512 authentication failed/,
    );
  });

  it('never printed a SASL password', () => {
    const password = readFileSync(identity.consumer!.KAFKA_SASL_PASSWORD_FILE!, 'utf8').trim();
    expect(password.length).toBeGreaterThanOrEqual(16);
    expect(outputs.length).toBeGreaterThanOrEqual(8);
    for (const o of outputs) expect(o.stdout + o.stderr).not.toContain(password);
  });
});
