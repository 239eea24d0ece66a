import { describe, expect, it } from 'vitest';

import { isLoopback, serveProblems } from '../../cli/commands/serve.js';
import { buildServer, fieldOf } from '../../http/server.js';
import { DecisionTimeoutError, type RedemptionOutcome } from '../../producers/decision-waiter.js';
import type { RedemptionDecided, RedemptionRequested } from '../../schemas/types.js';

// The HTTP entry's answers with a stand-in client (fastify's inject: no socket, no Kafka); the real
// stack is test/integration/serve.test.ts.

const body = {
  request_id: 'r1',
  coupon_code: 'C',
  user_id: 'u1',
  order_id: 'o1',
  op: 'REDEEM',
  amount_cents: 100,
  currency: 'EUR',
  occurred_at: '2026-12-05T10:00:00Z',
  source: 'web',
};
const record = {
  request_id: 'r1',
  coupon_code: 'C',
  decision: 'APPLIED',
  reason: null,
  decided_at: new Date(0),
  occurred_at: new Date(0),
} as unknown as RedemptionDecided;

function server(redeem: (r: RedemptionRequested, o: { timeoutMs: number }) => Promise<RedemptionOutcome>, tokens: string[] = ['t0k3n']) {
  const sent: RedemptionRequested[] = [];
  const { app, stopAccepting } = buildServer(
    {
      client: { send: async (r) => void sent.push(r), redeem },
      findDecision: async (coupon, id) => (coupon === 'C' && id === 'r1' ? ({ coupon_code: 'C', request_id: 'r1', decision: 'APPLIED' } as never) : null),
      ready: async () => true,
    },
    { tokens, bodyLimitBytes: 1024, maxWaitMs: 5000 },
  );
  return { app, sent, stopAccepting };
}

const auth = { authorization: 'Bearer t0k3n', 'content-type': 'application/json' };
const applied = async (): Promise<RedemptionOutcome> => ({ decision: 'APPLIED', reason: null, retry: false, record });

describe('redeem serve, the HTTP entry', () => {
  it('202 once sent; ?wait 200 with the decision, or 202 when it did not come in time', async () => {
    const { app, sent } = server(async (r, o) => {
      if (o.timeoutMs === 10) throw new DecisionTimeoutError(r.coupon_code, r.request_id, 10, true);
      return applied();
    });
    const accepted = await app.inject({ method: 'POST', url: '/v1/redemptions', headers: auth, payload: body });
    expect(accepted.statusCode).toBe(202);
    expect(accepted.headers.location).toBe('/v1/redemptions/C/r1');
    expect(sent).toHaveLength(1);
    const decided = await app.inject({ method: 'POST', url: '/v1/redemptions?wait=100', headers: auth, payload: body });
    expect(decided.statusCode).toBe(200);
    expect(decided.json()).toMatchObject({ status: 'decided', decision: 'APPLIED', retry: false });
    expect((await app.inject({ method: 'POST', url: '/v1/redemptions?wait=10', headers: auth, payload: body })).statusCode).toBe(202);
    const badWait = await app.inject({ method: 'POST', url: '/v1/redemptions?wait=soon', headers: auth, payload: body });
    expect(badWait.statusCode).toBe(400);
    expect(badWait.json()).toMatchObject({ errors: [{ field: 'wait' }] });
  });

  it('problem+json: 401 without a valid token, 422 naming each bad field, 400 for bad JSON, 413 over the limit', async () => {
    const { app } = server(applied);
    const noToken = await app.inject({ method: 'POST', url: '/v1/redemptions', headers: { 'content-type': 'application/json' }, payload: body });
    expect(noToken.statusCode).toBe(401);
    expect(noToken.headers['content-type']).toMatch(/^application\/problem\+json/);
    const invalid = await app.inject({ method: 'POST', url: '/v1/redemptions', headers: auth, payload: { ...body, currency: 'euro', source: '' } });
    expect(invalid.statusCode).toBe(422);
    expect(invalid.json().errors.map((e: { field: string }) => e.field)).toEqual(['source', 'currency']);
    const notJson = await app.inject({ method: 'POST', url: '/v1/redemptions', headers: auth, payload: '{"a":' });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.headers['content-type']).toMatch(/^application\/problem\+json/);
    const huge = await app.inject({ method: 'POST', url: '/v1/redemptions', headers: auth, payload: { ...body, source: 'x'.repeat(2000) } });
    expect(huge.statusCode).toBe(413);
  });

  it('GET answers the stored decision or 404; health, readiness and the document need no token; a stop turns readyz 503', async () => {
    const { app, stopAccepting } = server(applied);
    expect((await app.inject({ method: 'GET', url: '/v1/redemptions/C/r1', headers: auth })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/v1/redemptions/C/nope', headers: auth })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/openapi.json' })).json()).toMatchObject({ openapi: '3.1.0' });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    stopAccepting();
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    expect((await app.inject({ method: 'POST', url: '/v1/redemptions', headers: auth, payload: body })).statusCode).toBe(503);
  });

  it('tokens are required beyond loopback; the field of a validation problem is named', () => {
    expect(isLoopback('127.0.0.1') && isLoopback('::1') && isLoopback('localhost')).toBe(true);
    expect(isLoopback('0.0.0.0') || isLoopback('10.0.0.1')).toBe(false);
    const options = { host: '0.0.0.0', port: 0, bodyLimit: 1024, maxWait: 1000 };
    expect(serveProblems(options, []).map((p) => p.setting)).toEqual(['--token-file']);
    expect(serveProblems(options, ['t'])).toEqual([]);
    expect(serveProblems({ ...options, host: '127.0.0.1', tlsKey: 'k.pem' }, []).map((p) => p.setting)).toEqual(['--tls-key/--tls-cert']);
    expect(fieldOf('a REVERSE needs reverses_request_id (the redemption it refunds)')).toBe('reverses_request_id');
    expect(fieldOf('must be a JSON object')).toBeNull();
  });
});
