import { createHash, timingSafeEqual } from 'node:crypto';

import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

import type { StoredDecisionView } from '../lib/decision-lookup.js';
import { RedemptionError } from '../lib/errors.js';
import { DecisionTimeoutError, type RedemptionOutcome } from '../producers/decision-waiter.js';
import { RequestRefusedError } from '../producers/redemption-producer.js';
import { requestFromJson } from '../schemas/request-validation.js';
import type { RedemptionRequested } from '../schemas/types.js';
import { openApiDocument } from './openapi.js';

/** What the HTTP entry needs of the pipeline: the client, and the decisions stored in MySQL. */
export interface ServeDeps {
  client: {
    send(request: RedemptionRequested): Promise<void>;
    redeem(request: RedemptionRequested, o: { timeoutMs: number }): Promise<RedemptionOutcome>;
  };
  findDecision(couponCode: string, requestId: string): Promise<StoredDecisionView | null>;
  /** Whether Kafka and MySQL answer now (for /readyz). */
  ready(): Promise<boolean>;
}

export interface ServeOptions {
  /** Bearer tokens accepted (any one); empty: no authentication (allowed on loopback only, checked by the caller). */
  tokens: readonly string[];
  /** Largest request body in bytes; larger bodies get 413. */
  bodyLimitBytes: number;
  /** Longest `?wait=` in ms; longer waits are cut to it. */
  maxWaitMs: number;
  /** TLS key and certificate (PEM) for HTTPS; none: plain HTTP. */
  tls?: { key: Buffer; cert: Buffer };
  logger?: boolean;
}

/** An RFC 9457 problem: `errors` names each bad field of a refused request. */
interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: { field: string | null; detail: string }[];
}

const FIELDS = ['reverses_request_id', 'request_id', 'coupon_code', 'user_id', 'order_id', 'op', 'amount_cents', 'currency', 'occurred_at', 'source'];

/** The field a validation problem is about: the first field name it mentions (problems start with it). */
export function fieldOf(problem: string): string | null {
  const words = new Set(problem.split(/[^a-z_]+/));
  return FIELDS.find((f) => words.has(f)) ?? null;
}

function problem(reply: FastifyReply, p: Problem): FastifyReply {
  return reply.code(p.status).type('application/problem+json').send(p);
}

/** The answer of a decided request: its outcome and the audit record that decided it. */
function decided(outcome: RedemptionOutcome) {
  const { record } = outcome;
  return {
    status: 'decided',
    decision: outcome.decision,
    reason: outcome.reason,
    retry: outcome.retry,
    record: { ...record, decided_at: record.decided_at.toISOString(), occurred_at: record.occurred_at?.toISOString() ?? null },
  };
}

function sameToken(given: string, tokens: readonly string[]): boolean {
  // Hashes first: equal lengths for timingSafeEqual, and no early exit on the first different byte.
  const digest = createHash('sha256').update(given).digest();
  let ok = false;
  for (const t of tokens) ok = timingSafeEqual(digest, createHash('sha256').update(t).digest()) || ok;
  return ok;
}

type ServerError = Error & { statusCode?: number; code?: string };

/** Every failure as application/problem+json: a client's mistake named, a refusal 503, a bug 500. */
function answerError(error: ServerError, reply: FastifyReply, bodyLimitBytes: number): FastifyReply {
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return problem(reply, { type: 'about:blank', title: 'Body too large', status: 413, detail: `the body is larger than ${bodyLimitBytes} bytes` });
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
    return problem(reply, { type: 'about:blank', title: 'Unsupported media type', status: 415, detail: 'send the request as application/json' });
  if (error.statusCode === 400 || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || error instanceof SyntaxError)
    return problem(reply, { type: 'about:blank', title: 'Bad request', status: 400, detail: `the body is not JSON: ${error.message}` });
  if (error instanceof RequestRefusedError) return refused(reply, error.problems);
  if (error instanceof RedemptionError && error.retriable)
    return problem(reply, { type: 'about:blank', title: 'Service unavailable', status: 503, detail: `${error.code}: ${error.message}` });
  if (error instanceof RedemptionError)
    return problem(reply, { type: 'about:blank', title: 'Refused', status: 503, detail: `${error.code}: ${error.message}` });
  reply.log.error({ err: error }, 'request failed');
  return problem(reply, { type: 'about:blank', title: 'Internal error', status: 500, detail: error.message });
}

/** Every /v1 route wants `Authorization: Bearer <token>` when tokens are configured: 401 otherwise. */
function checkToken(request: FastifyRequest, reply: FastifyReply, tokens: readonly string[]): FastifyReply | undefined {
  if (!request.url.startsWith('/v1/') || tokens.length === 0) return undefined;
  const header = request.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (match && sameToken(match[1]!, tokens)) return undefined;
  void reply.header('WWW-Authenticate', 'Bearer');
  return problem(reply, {
    type: 'about:blank',
    title: 'Unauthorized',
    status: 401,
    detail: match ? 'the bearer token is not valid' : 'send Authorization: Bearer <token>',
  });
}

/**
 * The HTTP entry of the pipeline for a checkout that runs no Kafka client (fastify):
 *
 *   POST /v1/redemptions[?wait=MS]        a request's JSON; 202 once Kafka acknowledged it; with wait,
 *                                         200 and the decision if it came in time, else 202
 *   GET  /v1/redemptions/{coupon}/{id}    the decision stored in MySQL; 404 when there is none yet
 *   GET  /openapi.json, /healthz, /readyz
 *
 * Errors are application/problem+json. Every /v1 route needs `Authorization: Bearer <token>` when
 * tokens are configured.
 */
export function buildServer(deps: ServeDeps, o: ServeOptions): { app: FastifyInstance; stopAccepting(): void } {
  const app = Fastify({
    logger: o.logger ?? false,
    bodyLimit: o.bodyLimitBytes,
    ...(o.tls ? { https: o.tls } : {}),
    // Ids in the path may hold any character the request validation allows.
    maxParamLength: 512,
  }) as unknown as FastifyInstance;
  let accepting = true;

  app.setErrorHandler((error: ServerError, _request, reply) => answerError(error, reply, o.bodyLimitBytes));
  app.setNotFoundHandler((request, reply) =>
    problem(reply, { type: 'about:blank', title: 'Not found', status: 404, detail: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => checkToken(request, reply, o.tokens));

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = accepting && (await deps.ready().catch(() => false));
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : accepting ? 'not ready' : 'shutting down' });
  });
  app.get('/openapi.json', async () => openApiDocument(o));

  app.post('/v1/redemptions', async (request, reply) => {
    if (!accepting) return problem(reply, { type: 'about:blank', title: 'Shutting down', status: 503, detail: 'the server is shutting down; send to another' });
    const parsed = requestFromJson(request.body);
    if ('problems' in parsed) return refused(reply, parsed.problems);
    const r = parsed.request;
    const location = `/v1/redemptions/${encodeURIComponent(r.coupon_code)}/${encodeURIComponent(r.request_id)}`;
    const waitMs = waitOf((request.query as { wait?: string }).wait, o.maxWaitMs);
    if (typeof waitMs === 'string')
      return problem(reply, { type: 'about:blank', title: 'Bad request', status: 400, detail: waitMs, errors: [{ field: 'wait', detail: waitMs }] });
    const accepted = { status: 'accepted', request_id: r.request_id, coupon_code: r.coupon_code, decision_url: location };
    if (waitMs === null || waitMs === 0) {
      await deps.client.send(r);
      return reply.code(202).header('Location', location).send(accepted);
    }
    try {
      return reply
        .code(200)
        .header('Location', location)
        .send(decided(await deps.client.redeem(r, { timeoutMs: waitMs })));
    } catch (error) {
      // In Kafka, not decided yet: accepted, and the decision can be looked up later.
      if (error instanceof DecisionTimeoutError && error.acknowledged) return reply.code(202).header('Location', location).send(accepted);
      throw error;
    }
  });

  app.get('/v1/redemptions/:coupon/:requestId', async (request, reply) => {
    const { coupon, requestId } = request.params as { coupon: string; requestId: string };
    const decision = await deps.findDecision(coupon, requestId);
    if (decision === null)
      return problem(reply, {
        type: 'about:blank',
        title: 'Not found',
        status: 404,
        detail: `no decision stored for request ${requestId} of coupon ${coupon}: not decided yet, or never sent`,
      });
    return { status: 'decided', ...decision };
  });

  app.addHook('onClose', async () => {
    accepting = false;
  });
  // A shutdown first stops taking new requests (readyz says so at once), then closes the listener.
  return {
    app,
    stopAccepting: () => {
      accepting = false;
    },
  };
}

function refused(reply: FastifyReply, problems: readonly string[]): FastifyReply {
  return problem(reply, {
    type: 'about:blank',
    title: 'Invalid request',
    status: 422,
    detail: problems.join('; '),
    errors: problems.map((p) => ({ field: fieldOf(p), detail: p })),
  });
}

/** `?wait=` as ms (cut to `max`), null when absent, or why it is not a wait. */
function waitOf(value: string | undefined, max: number): number | null | string {
  if (value === undefined) return null;
  if (!/^\d{1,9}$/.test(value)) return `wait must be a whole number of milliseconds, got ${JSON.stringify(value)}`;
  return Math.min(Number(value), max);
}
