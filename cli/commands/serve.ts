/**
 * `redeem serve`: the HTTP entry for checkouts (http/server.ts), its options checked before any service is
 * asked.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

import { buildServer } from '../../http/server.js';
import { findDecision } from '../../lib/decision-lookup.js';
import { ConfigError } from '../../lib/errors.js';
import { withAdmin } from '../../lib/kafka.js';
import type { Runtime } from '../../lib/runtime.js';
import { rememberSecret } from '../../lib/secrets.js';
import { ensurePipelineTopics } from '../../lib/topics.js';
import { RedemptionClient } from '../../producers/redemption-producer.js';
import type { RedemptionDecided, RedemptionRequested } from '../../schemas/types.js';

/** Connections the kernel queues for `redeem serve` before it accepts them. */
export const LISTEN_BACKLOG = 4096;

export interface ServeCommandOptions {
  host: string;
  port: number;
  /** A file of bearer tokens, one per line; required unless bound to loopback. */
  tokenFile?: string;
  tlsKey?: string;
  tlsCert?: string;
  bodyLimit: number;
  maxWait: number;
}

/** Whether a listen address only takes connections from this machine. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** Every bad combination of options at once (a ConfigError lists them). */
export function serveProblems(o: ServeCommandOptions, tokens: readonly string[]): { setting: string; problem: string }[] {
  const problems: { setting: string; problem: string }[] = [];
  if (!isLoopback(o.host) && tokens.length === 0)
    problems.push({ setting: '--token-file', problem: `is required when binding ${o.host}, which is not a loopback address (bearer tokens, one per line)` });
  if ((o.tlsKey === undefined) !== (o.tlsCert === undefined)) problems.push({ setting: '--tls-key/--tls-cert', problem: 'give both, or neither' });
  return problems;
}

/** The options checked, before any service is asked: the tokens, or a ConfigError naming every problem. */
export function checkServeOptions(o: ServeCommandOptions): string[] {
  const tokens = readTokens(o.tokenFile);
  const problems = serveProblems(o, tokens);
  if (problems.length > 0) throw new ConfigError(problems);
  return tokens;
}

function readTokens(file: string | undefined): string[] {
  if (file === undefined) return [];
  const tokens = readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (tokens.length === 0) throw new ConfigError([{ setting: '--token-file', problem: `${file} holds no token` }]);
  for (const t of tokens) rememberSecret(t);
  return tokens;
}

/**
 * `redeem serve`: the HTTP entry (http/server.ts) until SIGINT/SIGTERM. A shutdown stops taking requests
 * (readyz answers 503 at once), lets the requests in hand finish (each one it accepted is acknowledged
 * by Kafka before its answer), then disconnects the client, which waits for whatever it still holds.
 */
export async function serve(rt: Runtime, o: ServeCommandOptions, tokens: readonly string[], print: (line: string) => void): Promise<void> {
  const tls = o.tlsKey && o.tlsCert ? { key: readFileSync(o.tlsKey), cert: readFileSync(o.tlsCert) } : undefined;

  await withAdmin(rt.kafka(), (admin) => ensurePipelineTopics(admin, rt.config, rt.logger));
  const codec = await rt.registry().codecFor<RedemptionRequested>('requested', rt.config.redemptionTopic);
  const client = await RedemptionClient.connect(rt.kafka('redeem-serve'), codec, rt.config.redemptionTopic, {
    clientId: 'redeem-serve',
    sendTimeoutMs: 30_000,
    logger: rt.logger,
    audit: { topic: rt.config.auditTopic, decoder: rt.registry().decoderFor<RedemptionDecided>('decided') },
  });
  await client.startDecisions();
  const knex = rt.knex();
  const { app, stopAccepting } = buildServer(
    {
      client,
      findDecision: (coupon, requestId) => findDecision(knex, coupon, requestId),
      ready: async () => {
        await knex.raw('select 1');
        return true;
      },
    },
    { tokens, bodyLimitBytes: o.bodyLimit, maxWaitMs: o.maxWait, tls },
  );
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      rt.logger.info({ signal }, 'shutting down: finishing the requests in hand');
      stopAccepting();
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  // A checkout's burst opens thousands of connections at once: Node's default backlog (511) overflowed in
  // the bench's checkout stage and the kernel reset the rest. The kernel caps it at net.core.somaxconn.
  const address = await app.listen({ host: o.host, port: o.port, backlog: LISTEN_BACKLOG });
  print(
    `serving ${address} (POST /v1/redemptions, GET /v1/redemptions/{coupon}/{request_id}, /openapi.json, /healthz, /readyz)${tokens.length > 0 ? ', bearer tokens required' : ''}`,
  );
  await stopped;
  await app.close();
  await client.disconnect();
  print('stopped: every accepted request is in Kafka');
}
