import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, printableConfig } from '../../lib/config.js';
import { kafkaSecurity, mysqlTls, redisTls, registryConnection } from '../../lib/connections.js';
import { ConfigError } from '../../lib/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'security-config-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const readText = (path: string) => readFileSync(path, 'utf8');
const CA = file('ca.pem', '-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n');

/** The settings a ConfigError names, and the whole message. */
function refused(env: Record<string, string>): { settings: string[]; message: string } {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return { settings: (error as ConfigError).problems.map((p) => p.setting).sort(), message: (error as Error).message };
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe('secured connection settings', () => {
  it('are off by default: the local stack is plaintext and unauthenticated', () => {
    const config = loadConfig({});
    expect(kafkaSecurity(config)).toEqual({});
    expect(registryConnection(config)).toEqual({});
    expect(redisTls(config)).toBeUndefined();
    expect(mysqlTls(config)).toBeUndefined();
  });

  it('give KafkaJS SCRAM or PLAIN over TLS with a CA and a client certificate, the password from a file', () => {
    const config = loadConfig({
      KAFKA_SSL: 'true',
      KAFKA_SSL_CA_FILE: CA,
      KAFKA_SSL_CERT_FILE: file('client.pem', 'CERT'),
      KAFKA_SSL_KEY_FILE: file('client.key', 'KEY'),
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: 'pipeline',
      KAFKA_SASL_PASSWORD_FILE: file('kafka-password', 'from-the-file\n'),
    });
    expect(kafkaSecurity(config)).toEqual({
      ssl: { rejectUnauthorized: true, ca: [readText(CA)], cert: 'CERT', key: 'KEY' },
      sasl: { mechanism: 'scram-sha-512', username: 'pipeline', password: 'from-the-file' },
    });
    const plain = loadConfig({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'inline-pw' });
    expect(kafkaSecurity(plain)).toEqual({ sasl: { mechanism: 'plain', username: 'u', password: 'inline-pw' } });
  });

  it('give the registry basic auth and its CA, Redis and MySQL their CAs', () => {
    const config = loadConfig({
      SCHEMA_REGISTRY_URL: 'https://registry.internal/apis/ccompat/v7',
      SCHEMA_REGISTRY_USERNAME: 'pipeline',
      SCHEMA_REGISTRY_PASSWORD: 'reg-pw',
      SCHEMA_REGISTRY_CA_FILE: CA,
      REDIS_URL: 'rediss://pipeline:redis-pw@redis.internal:6380',
      REDIS_CA_FILE: CA,
      MYSQL_SSL_CA_FILE: CA,
    });
    const registry = registryConnection(config);
    expect(registry.auth).toEqual({ username: 'pipeline', password: 'reg-pw' });
    expect(registry.ca).toBe(readText(CA));
    expect(registry.agent?.options.ca).toBe(readText(CA));
    expect(redisTls(config)).toEqual({ ca: readText(CA), rejectUnauthorized: true });
    expect(mysqlTls(config)).toEqual({ ca: readText(CA), rejectUnauthorized: true });
    // And `redeem config` shows that passwords are set, never what they are.
    const printed = JSON.stringify(printableConfig(config));
    expect(printed).toContain('"schemaRegistryPassword":"***"');
    expect(printed).not.toContain('reg-pw');
    expect(printed).not.toContain('redis-pw');
  });

  it('refuse a password without a mechanism, and a mechanism without user or password', () => {
    expect(refused({ KAFKA_SASL_PASSWORD: 'pw' }).message).toContain('KAFKA_SASL_PASSWORD: is set but KAFKA_SASL_MECHANISM is not');
    expect(refused({ KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'pw' }).settings).toEqual(['KAFKA_SASL_PASSWORD', 'KAFKA_SASL_USERNAME']);
    expect(refused({ KAFKA_SASL_MECHANISM: 'scram-sha-512' }).settings).toEqual(['KAFKA_SASL_PASSWORD', 'KAFKA_SASL_USERNAME']);
    expect(refused({ KAFKA_SASL_MECHANISM: 'gssapi' }).message).toContain('KAFKA_SASL_MECHANISM: must be one of plain, scram-sha-256, scram-sha-512');
    expect(refused({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'pw', KAFKA_SASL_PASSWORD_FILE: file('p2', 'pw') }).message).toContain(
      'KAFKA_SASL_PASSWORD: is set together with KAFKA_SASL_PASSWORD_FILE',
    );
  });

  it('refuse an unreadable or empty file, naming the setting', () => {
    expect(refused({ KAFKA_SASL_PASSWORD_FILE: join(dir, 'missing') }).message).toMatch(/KAFKA_SASL_PASSWORD_FILE: cannot read ".*missing": no such file/);
    expect(refused({ KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: dir }).message).toMatch(/KAFKA_SSL_CA_FILE: cannot read ".*": not a regular file/);
    expect(refused({ MYSQL_SSL_CA_FILE: file('empty.pem', '') }).message).toMatch(/MYSQL_SSL_CA_FILE: ".*empty\.pem" is empty/);
  });

  it('refuse TLS files without TLS, half a client certificate, credentials in the registry URL', () => {
    expect(refused({ KAFKA_SSL_CA_FILE: CA }).message).toContain('KAFKA_SSL_CA_FILE: is set but KAFKA_SSL is not true');
    expect(refused({ KAFKA_SSL: 'true', KAFKA_SSL_CERT_FILE: CA }).message).toContain('KAFKA_SSL_KEY_FILE: KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together');
    expect(refused({ KAFKA_SSL: 'maybe' }).message).toContain('KAFKA_SSL: must be true or false');
    expect(refused({ SCHEMA_REGISTRY_URL: 'http://u:p@127.0.0.1:8081' }).message).toContain('SCHEMA_REGISTRY_URL: must not carry credentials');
    expect(refused({ SCHEMA_REGISTRY_PASSWORD: 'pw' }).message).toContain('SCHEMA_REGISTRY_USERNAME: must be set when a registry password is');
    expect(refused({ SCHEMA_REGISTRY_CA_FILE: CA }).message).toContain('SCHEMA_REGISTRY_CA_FILE: is set but SCHEMA_REGISTRY_URL is not https');
    expect(refused({ REDIS_CA_FILE: CA }).message).toContain('REDIS_CA_FILE: is set but REDIS_URL is not rediss://');
  });

  it('refuse an admin URL for another server, or a runtime user that is the administrator', () => {
    expect(refused({ MYSQL_ADMIN_URL: 'mysql://root@127.0.0.1:3306', MYSQL_URL: 'mysql://root@127.0.0.1:3306/redemptions' }).message).toContain('MYSQL_URL: must name its own user');
    expect(refused({ MYSQL_ADMIN_URL: 'mysql://root@db2:3306', MYSQL_URL: 'mysql://app:pw@127.0.0.1:3306/redemptions' }).message).toContain('MYSQL_ADMIN_URL: must name the same server as MYSQL_URL');
    expect(loadConfig({ MYSQL_ADMIN_URL: 'mysql://root@127.0.0.1:3306', MYSQL_URL: 'mysql://app:pw@127.0.0.1:3306/redemptions' }).mysqlAdminUrl).toBe('mysql://root@127.0.0.1:3306');
    expect(refused({ MYSQL_RUNTIME_USER_HOST: "x'; DROP" }).settings).toEqual(['MYSQL_RUNTIME_USER_HOST']);
  });
});
