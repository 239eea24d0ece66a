/**
 * `stack up --secure`: a second, secured broker beside the plaintext one, for trying and testing the
 * pipeline's TLS, SASL and ACL settings. Its client listeners both authenticate with SCRAM-SHA-512:
 * SASL_SSL, with a broker certificate signed by a CA made here and client certificates required, and
 * SASL_PLAINTEXT; its controller listener admits the administrator only. Every request is authorized
 * (StandardAuthorizer, nothing without an ACL): the administrator is the super user, and the pipeline's
 * identities (checkout, consumer, analyst, operator) get the ACLs of lib/kafka-acls.ts for the default
 * topic and group names (`redeem acls --apply`, as the administrator, adds them for other names).
 * Passwords are generated at its first start. Its ports (STACK_SECURE_KAFKA_PORT, default 9094,
 * STACK_SECURE_CONTROLLER_PORT, 9095, STACK_SECURE_SASL_PLAINTEXT_PORT, 9096) and folder are its own, so
 * it never touches the plaintext broker. `.stack/kafka-secure/<identity>.env` holds the settings a
 * client of that identity needs (the password itself is in a file it names, readable by its owner only).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Kafka } from 'kafkajs';

import { RedemptionError } from '../../lib/errors.js';
import { DEFAULT_PRINCIPALS } from '../../lib/kafka-acls.js';
import { tcpAnswers } from '../../lib/net.js';
import { verifyArtifacts } from './artifacts.js';
import { issueCertificate, makeCertificateAuthority, openssl } from './certificates.js';
import { formatKafkaStorage, installKafkaJars, KAFKA_LIBS, kafkaJavaArgs, newClusterId } from './kafka.js';
import { ADDRESSES, type ManagedService, type Print, SCRIPT_DIR, STACK_DIR } from './service.js';

const secureDir = join(STACK_DIR, 'kafka-secure');
const tlsDir = join(secureDir, 'tls');
export const SECURE_KAFKA = {
  host: '127.0.0.1',
  port: Number(process.env.STACK_SECURE_KAFKA_PORT ?? 9094),
  controllerPort: Number(process.env.STACK_SECURE_CONTROLLER_PORT ?? 9095),
  /** SASL without TLS (SASL_PLAINTEXT), for trying KAFKA_SASL_* with KAFKA_SSL=false. */
  saslPlaintextPort: Number(process.env.STACK_SECURE_SASL_PLAINTEXT_PORT ?? 9096),
  /** The super user: creates topics and ACLs, and the node logs in as it to itself. */
  admin: 'admin',
  /** The SCRAM users of the pipeline's identities, each with the ACLs of lib/kafka-acls.ts. */
  identities: Object.values(DEFAULT_PRINCIPALS),
  /** The client settings of an identity (or of the administrator). */
  clientEnv: (user: string) => join(secureDir, `${user}.env`),
};

/** Refuses secured ports that collide with each other or with the plaintext broker's. */
export function checkSecurePorts(): void {
  const ports = [SECURE_KAFKA.port, SECURE_KAFKA.controllerPort, SECURE_KAFKA.saslPlaintextPort];
  if (ports.some((port) => port === ADDRESSES.kafka.port || port === ADDRESSES.kafka.port + 1) || new Set(ports).size !== ports.length) {
    throw new RedemptionError(
      'STACK_FAILED',
      "STACK_SECURE_KAFKA_PORT, STACK_SECURE_CONTROLLER_PORT and STACK_SECURE_SASL_PLAINTEXT_PORT must differ from each other and from the plaintext broker's 9092 and 9093",
    );
  }
}

/** A password made of letters and digits only: it goes into a JAAS line and a properties file unquoted. */
function newPassword(): string {
  return randomBytes(18)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 20)
    .padEnd(20, 'x');
}

/** A secret of the secured stack: made once, kept in a file only its owner can read. */
function stackSecret(name: string): string {
  const file = join(secureDir, `${name}.password`);
  if (!existsSync(file)) writeFileSync(file, `${newPassword()}\n`, { mode: 0o600, flag: 'wx' });
  return readFileSync(file, 'utf8').trim();
}

/**
 * A CA, a broker certificate for 127.0.0.1 signed by it in a PKCS12 keystore, and a client certificate
 * for the pipeline (the SASL_SSL listener requires one: TLS client authentication on top of SASL), all
 * made with openssl. The CA's key stays (owner only) so that more client certificates can be issued.
 */
function makeCertificates(keystorePassword: string, print: Print): void {
  const at = (f: string) => join(tlsDir, f);
  if (!existsSync(at('broker.p12'))) {
    print('kafka-secure: making a CA and a broker certificate (first run only)...');
    mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
    makeCertificateAuthority(tlsDir, { subject: 'redeem local stack CA', days: 825 });
    issueCertificate(tlsDir, { name: 'broker', subject: '127.0.0.1', days: 825, subjectAltName: 'IP:127.0.0.1,DNS:localhost' });
    const keystore = ['-in', at('broker.pem'), '-inkey', at('broker.key'), '-certfile', at('ca.pem'), '-out', at('broker.p12')];
    openssl(['pkcs12', '-export', ...keystore, '-passout', `pass:${keystorePassword}`], 'making the broker keystore');
    rmSync(at('broker.key'), { force: true });
  }
  if (!existsSync(at('client.pem')) && existsSync(at('ca.key'))) {
    issueCertificate(tlsDir, { name: 'client', subject: 'redeem stack client', days: 825 });
  }
}

/** A KafkaJS client of the secured broker, logged in as the administrator. */
export async function secureAdminKafka(): Promise<Kafka> {
  const { Kafka, logLevel } = await import('kafkajs');
  return new Kafka({
    brokers: [`${SECURE_KAFKA.host}:${SECURE_KAFKA.port}`],
    clientId: 'redeem-stack',
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 3000,
    ssl: {
      ca: [readFileSync(join(tlsDir, 'ca.pem'), 'utf8')],
      cert: readFileSync(join(tlsDir, 'client.pem'), 'utf8'),
      key: readFileSync(join(tlsDir, 'client.key'), 'utf8'),
      rejectUnauthorized: true,
    },
    sasl: { mechanism: 'scram-sha-512', username: SECURE_KAFKA.admin, password: stackSecret(SECURE_KAFKA.admin) },
  });
}

async function secureKafkaAnswers(): Promise<boolean> {
  if (!existsSync(SECURE_KAFKA.clientEnv(SECURE_KAFKA.admin)) || !(await tcpAnswers(SECURE_KAFKA.host, SECURE_KAFKA.port))) return false;
  const admin = (await secureAdminKafka()).admin();
  try {
    await admin.connect();
    return (await admin.describeCluster()).brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** The settings a client of `user` needs, as a file to source (`set -a; . FILE; set +a`). */
function clientSettings(user: string): string {
  return [
    `# ${user} against \`stack up --secure\`: set -a; . .stack/kafka-secure/${user}.env; set +a`,
    `KAFKA_BROKERS=${SECURE_KAFKA.host}:${SECURE_KAFKA.port}`,
    'KAFKA_SSL=true',
    `KAFKA_SSL_CA_FILE=${join(tlsDir, 'ca.pem')}`,
    `KAFKA_SSL_CERT_FILE=${join(tlsDir, 'client.pem')}`,
    `KAFKA_SSL_KEY_FILE=${join(tlsDir, 'client.key')}`,
    'KAFKA_SASL_MECHANISM=scram-sha-512',
    `KAFKA_SASL_USERNAME=${user}`,
    `KAFKA_SASL_PASSWORD_FILE=${join(secureDir, `${user}.password`)}`,
    '',
  ].join('\n');
}

/** The broker's properties from its template, and each user's client settings file. */
function writeSettings(passwords: { admin: string; keystore: string }): string {
  const properties = join(secureDir, 'server.properties');
  const text = readFileSync(join(SCRIPT_DIR, 'server-secure.properties.template'), 'utf8')
    .replaceAll('@PORT@', String(SECURE_KAFKA.port))
    .replaceAll('@CONTROLLER_PORT@', String(SECURE_KAFKA.controllerPort))
    .replaceAll('@SASL_PLAINTEXT_PORT@', String(SECURE_KAFKA.saslPlaintextPort))
    .replaceAll('@ADMIN_PASSWORD@', passwords.admin)
    .replaceAll('@KEYSTORE_PASSWORD@', passwords.keystore)
    .replaceAll('@TLS_DIR@', tlsDir)
    .replaceAll('@DATA_DIR@', join(secureDir, 'data'));
  rmSync(properties, { force: true });
  writeFileSync(properties, text, { mode: 0o600 });
  for (const user of [SECURE_KAFKA.admin, ...SECURE_KAFKA.identities]) {
    rmSync(SECURE_KAFKA.clientEnv(user), { force: true });
    writeFileSync(SECURE_KAFKA.clientEnv(user), clientSettings(user), { mode: 0o600 });
  }
  // The single client.env of earlier versions logged in as a user that no longer exists.
  rmSync(join(secureDir, 'client.env'), { force: true });
  return properties;
}

export const kafkaSecure: ManagedService = {
  name: 'kafka-secure',
  dir: secureDir,
  address: { host: SECURE_KAFKA.host, port: SECURE_KAFKA.port },
  // The same jars as the plaintext broker (checked against their pins in prepare).
  install: installKafkaJars,
  prepare(print) {
    verifyArtifacts('kafka', KAFKA_LIBS);
    mkdirSync(secureDir, { recursive: true });
    // Passwords, keys and the broker's properties are in here: its owner only.
    chmodSync(secureDir, 0o700);
    const passwords = { admin: stackSecret(SECURE_KAFKA.admin), keystore: stackSecret('keystore') };
    makeCertificates(passwords.keystore, print);
    const properties = writeSettings(passwords);
    const data = join(secureDir, 'data');
    // Its SCRAM users are added when the storage is formatted; a storage of an earlier version lacks them.
    const usersMarker = join(secureDir, 'identities');
    if (existsSync(join(data, 'meta.properties'))) {
      if (!existsSync(usersMarker)) {
        throw new RedemptionError(
          'STACK_FAILED',
          `kafka-secure: its storage (${data}) predates the identities ${SECURE_KAFKA.identities.join(', ')}; remove that folder (stack down first) and run stack up --secure again`,
        );
      }
      return;
    }
    print('kafka-secure: formatting its storage with the SCRAM users (first run only)...');
    mkdirSync(data, { recursive: true });
    const users = [SECURE_KAFKA.admin, ...SECURE_KAFKA.identities];
    formatKafkaStorage(
      newClusterId(),
      properties,
      ['--standalone', ...users.flatMap((user) => ['--add-scram', `SCRAM-SHA-512=[name=${user},password=${stackSecret(user)}]`])],
      'the secured Kafka storage',
    );
    writeFileSync(usersMarker, `${users.join('\n')}\n`);
  },
  command: () => ({ args: kafkaJavaArgs('kafka-secure', ['-Xms128m', '-Xmx512m', '-XX:+UseG1GC'], join(secureDir, 'server.properties')) }),
  ready: () => secureKafkaAnswers(),
};

/**
 * As the administrator: the default topics of the pipeline and the ACLs of its identities for them
 * (idempotent, so every `stack up --secure` restores them).
 */
export async function provisionSecureKafka(print: Print): Promise<void> {
  const [{ provisionPipeline }, { loadConfig }, { createLogger }, { withAdmin }] = await Promise.all([
    import('../../cli/commands/acls.js'),
    import('../../lib/config.js'),
    import('../../lib/logger.js'),
    import('../../lib/kafka.js'),
  ]);
  const config = loadConfig({});
  const count = await withAdmin(await secureAdminKafka(), (admin) => provisionPipeline(admin, config, DEFAULT_PRINCIPALS, createLogger('warn')));
  print(`kafka-secure: topics ${config.redemptionTopic}, ${config.auditTopic} and ${SECURE_KAFKA.identities.join(', ')}'s ${count} ACL entries in place`);
}
