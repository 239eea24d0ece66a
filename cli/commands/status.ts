/**
 * `redeem status`: whether each service answers and lets this configuration in, the group's members and
 * partitions, their lag, and the last commit.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

import { type Admin, AssignerProtocol } from 'kafkajs';

import { lastFlushKey } from '../../consumers/decision-cache.js';
import { kafkaSecurity, redisTls, type RegistryConnection, registryConnection } from '../../lib/connections.js';
import { createKafka, partitionLags, withAdmin } from '../../lib/kafka.js';
import { checkMysqlUsable, databaseName } from '../../lib/mysql.js';
import { tcpAnswers } from '../../lib/net.js';
import { checkRedisUsable } from '../../lib/redis.js';
import type { Runtime } from '../../lib/runtime.js';
import { redactUrl } from '../../lib/secrets.js';

/**
 * One service as this configuration sees it. "Answers" (something accepts a connection at the address)
 * is not "usable": a wrong password, a missing database or a user without rights answers too, and the
 * pipeline would still fail. Usable means logged in with the configured credentials and able to do the
 * work status itself needs (read the cluster, the subjects, a key, a table).
 */
export interface ServiceCheck {
  service: 'kafka' | 'registry' | 'redis' | 'mysql';
  address: string;
  answers: boolean;
  usable: boolean;
  /** Why it is not usable, or does not answer. */
  problem?: string;
}

function hostPort(url: URL, defaultPort: number): { host: string; port: number } {
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port ? Number(url.port) : defaultPort };
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

async function check(service: ServiceCheck['service'], address: string, answers: () => Promise<boolean>, use: () => Promise<void>): Promise<ServiceCheck> {
  if (!(await answers())) return { service, address, answers: false, usable: false, problem: 'does not answer' };
  try {
    await withTimeout(use(), 10_000, 'logging in');
    return { service, address, answers: true, usable: true };
  } catch (error) {
    return { service, address, answers: true, usable: false, problem: (error as Error).message.split('\n')[0] };
  }
}

/** The HTTP status of GET <registry>/subjects, with the configured basic auth and CA. */
function registryStatus(baseUrl: string, connection: RegistryConnection): Promise<number> {
  const url = new URL(`${baseUrl.replace(/\/$/, '')}/subjects`);
  const headers: Record<string, string> = {};
  if (connection.auth) headers.authorization = `Basic ${Buffer.from(`${connection.auth.username}:${connection.auth.password}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const options = { headers, timeout: 5000, ...(connection.ca ? { ca: connection.ca } : {}) };
    const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('timeout', () => request.destroy(new Error('no answer within 5 s')));
    request.on('error', reject);
    request.end();
  });
}

/** Each service of the configuration: does it answer, and does it let this configuration in and work. */
export async function checkServices(rt: Runtime): Promise<ServiceCheck[]> {
  const { config } = rt;
  const brokers = config.kafkaBrokers.map((b) => {
    const at = b.lastIndexOf(':');
    return { host: b.slice(0, at), port: Number(b.slice(at + 1)) };
  });
  const registry = new URL(config.schemaRegistryUrl);
  const redis = new URL(config.redisUrl);
  const mysql = new URL(config.mysqlUrl);
  return Promise.all([
    check(
      'kafka',
      config.kafkaBrokers.join(','),
      async () => (await Promise.all(brokers.map((b) => tcpAnswers(b.host, b.port)))).some(Boolean),
      async () => {
        // Two retries, not the pipeline's eight: a refusal (TLS, SASL, a listener closing on us) then
        // surfaces as itself within the check's 10 s instead of as "took longer than 10 s".
        const kafka = createKafka(config.kafkaBrokers, 'redeem-status', rt.logger, kafkaSecurity(config), config.requestTimeoutMs, 2);
        await withAdmin(kafka, (admin) => admin.describeCluster());
      },
    ),
    check(
      'registry',
      redactUrl(config.schemaRegistryUrl),
      () => {
        const { host, port } = hostPort(registry, registry.protocol === 'https:' ? 443 : 80);
        return tcpAnswers(host, port);
      },
      async () => {
        const status = await registryStatus(config.schemaRegistryUrl, registryConnection(config));
        if (status === 401 || status === 403) throw new Error(`the registry refuses these credentials (HTTP ${status})`);
        if (status !== 200) throw new Error(`GET /subjects answered HTTP ${status}`);
      },
    ),
    check(
      'redis',
      `${redis.hostname}:${redis.port || 6379}`,
      () => {
        const { host, port } = hostPort(redis, 6379);
        return tcpAnswers(host, port);
      },
      () => checkRedisUsable(config.redisUrl, lastFlushKey(config.redisKeyPrefix), redisTls(config)),
    ),
    check(
      'mysql',
      `${mysql.hostname}:${mysql.port || 3306}/${databaseName(config.mysqlUrl)}`,
      () => {
        const { host, port } = hostPort(mysql, 3306);
        return tcpAnswers(host, port);
      },
      () => checkMysqlUsable(config.mysqlUrl),
    ),
  ]);
}
import { cachePrefix } from '../../lib/database-identity.js';

/**
 * What whoever is on call wants first: do the services answer, who is in the group with which
 * partitions, how far behind each partition is, and when the last flush committed.
 */
export async function status(rt: Runtime, print: (line: string) => void): Promise<boolean> {
  let healthy = true;
  print('services');
  const checks = await checkServices(rt);
  const width = Math.max(16, ...checks.map((c) => c.address.length));
  for (const s of checks) {
    const state = s.usable ? 'up: answers, logged in and usable' : s.answers ? `NOT USABLE: answers, but ${s.problem}` : `DOWN: ${s.problem}`;
    print(`  ${s.service.padEnd(9)} ${s.address.padEnd(width)} ${state}`);
    healthy &&= s.usable;
  }
  if (!healthy) return false;

  const { consumerGroup: group, redemptionTopic: topic } = rt.config;
  const admin = rt.kafka('redeem-status').admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([group]);
    const g = groups[0]!;
    print(`group ${group}: ${g.state}, ${g.members.length} member(s), protocol ${g.protocol || '-'}`);
    for (const m of g.members) {
      const assignment = AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment ?? {};
      const partitions = assignment[topic] ?? [];
      print(`  ${m.clientId} ${m.clientHost} ${m.memberId.slice(-12)}  partitions ${partitions.length ? partitions.join(',') : '-'}`);
    }
    await printLag(admin, group, topic, print);
  } finally {
    await admin.disconnect();
  }

  // The cache (and its last-flush key) is named by the database's identity, which MySQL holds.
  const prefix = await cachePrefix(rt.knex(), rt.config.redisKeyPrefix).catch(() => null);
  const last = prefix === null ? null : await (await rt.connectedRedis()).get(lastFlushKey(prefix));
  if (last) {
    const { at, consumerId, decisions } = JSON.parse(last) as { at: number; consumerId: string; decisions: number };
    print(`last flush ${new Date(at).toISOString()} (${Math.round((Date.now() - at) / 1000)} s ago) by ${consumerId}: ${decisions} decision(s)`);
  } else {
    print(prefix === null ? 'last flush: unknown (the database identity could not be read from MySQL)' : 'last flush: none recorded');
  }
  return true;
}

/**
 * Each partition's end, committed offset and lag. When they cannot be read (the topic does not exist, its
 * leaders do not answer within 5 s) the lag is said to be unknown, with why: printed as 0 it would read
 * as "caught up".
 */
async function printLag(admin: Admin, group: string, topic: string, print: (line: string) => void): Promise<void> {
  const lags = await partitionLags(admin, group, topic, 5_000).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
  if (lags instanceof Error) {
    print(`lag on ${topic}: unknown (${lags.message})`);
    return;
  }
  print(`lag on ${topic}`);
  for (const p of lags) print(`  partition ${p.partition}: end ${p.end}, committed ${p.committed ?? '-'}, lag ${p.lag}`);
  print(`  total lag ${lags.reduce((sum, p) => sum + p.lag, 0)}`);
}
