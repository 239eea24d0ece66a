/**
 * The security part of every client the project makes, from the validated configuration: Kafka (TLS,
 * SASL), the schema registry (basic auth, TLS CA), Redis (TLS CA; the ACL user and password are in
 * REDIS_URL) and MySQL (TLS CA). Files are read here, when a client is made, so that a rotated
 * password file or CA bundle is picked up by the next process without a config change.
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';

import type { KafkaConfig, SASLOptions } from 'kafkajs';

import { type Config, readSecretFile } from './config.js';

/** `ssl` and `sasl` for KafkaJS; empty for a plaintext, unauthenticated broker (the local stack). */
export function kafkaSecurity(config: Config): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const out: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  if (config.kafkaSsl) {
    out.ssl = {
      rejectUnauthorized: true,
      ...(config.kafkaSslCaFile ? { ca: [readFileSync(config.kafkaSslCaFile, 'utf8')] } : {}),
      ...(config.kafkaSslCertFile ? { cert: readFileSync(config.kafkaSslCertFile, 'utf8'), key: readFileSync(config.kafkaSslKeyFile, 'utf8') } : {}),
    };
  }
  if (config.kafkaSaslMechanism !== '') {
    const password = config.kafkaSaslPasswordFile ? readSecretFile(config.kafkaSaslPasswordFile) : config.kafkaSaslPassword;
    out.sasl = { mechanism: config.kafkaSaslMechanism, username: config.kafkaSaslUsername, password } as SASLOptions;
  }
  return out;
}

export interface RegistryConnection {
  auth?: { username: string; password: string };
  /** For an https registry with its own CA. */
  agent?: HttpsAgent;
  /** The CA bundle itself, for requests made without the agent (status). */
  ca?: string;
}

export function registryConnection(config: Config): RegistryConnection {
  const out: RegistryConnection = {};
  if (config.schemaRegistryUsername !== '') {
    const password = config.schemaRegistryPasswordFile ? readSecretFile(config.schemaRegistryPasswordFile) : config.schemaRegistryPassword;
    out.auth = { username: config.schemaRegistryUsername, password };
  }
  if (config.schemaRegistryCaFile !== '') {
    out.ca = readFileSync(config.schemaRegistryCaFile, 'utf8');
    out.agent = new HttpsAgent({ ca: out.ca, rejectUnauthorized: true, keepAlive: true });
  }
  return out;
}

/** ioredis `tls` options: TLS comes from a `rediss://` URL; this adds the CA that signs the server. */
export function redisTls(config: Config): { ca: string; rejectUnauthorized: true } | undefined {
  return config.redisCaFile !== '' ? { ca: readFileSync(config.redisCaFile, 'utf8'), rejectUnauthorized: true } : undefined;
}

/** mysql2 `ssl` options: TLS with the server's certificate verified, when a CA file is configured. */
export function mysqlTls(config: Config): { ca: string; rejectUnauthorized: true } | undefined {
  return config.mysqlSslCaFile !== '' ? { ca: readFileSync(config.mysqlSslCaFile, 'utf8'), rejectUnauthorized: true } : undefined;
}
