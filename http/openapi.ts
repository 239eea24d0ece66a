import type { ServeOptions } from './server.js';

const problem = {
  description: 'application/problem+json (RFC 9457); `errors` names each bad field',
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
};

/** The OpenAPI 3.1 document of `redeem serve`, served at /openapi.json. */
// eslint-disable-next-line max-lines-per-function -- one object literal: the document itself, read top to bottom as the spec lays it out
export function openApiDocument(o: Pick<ServeOptions, 'tokens' | 'bodyLimitBytes' | 'maxWaitMs'>) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Coupon redemption pipeline',
      version: '1',
      description: `Ask for coupon redemptions (and refunds) and read their decisions. Bodies up to ${o.bodyLimitBytes} bytes; ?wait up to ${o.maxWaitMs} ms.`,
    },
    ...(o.tokens.length > 0 ? { security: [{ bearer: [] }] } : {}),
    paths: {
      '/v1/redemptions': {
        post: {
          summary: 'Send a RedemptionRequested; with ?wait=MS, wait that long for its decision',
          parameters: [{ name: 'wait', in: 'query', required: false, schema: { type: 'integer', minimum: 0, maximum: o.maxWaitMs } }],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/RedemptionRequested' } } } },
          responses: {
            '200': {
              description: 'Decided within ?wait: APPLIED, or REJECTED with its reason; for a request id decided before, its original outcome with retry true',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Decided' } } },
            },
            '202': {
              description: 'In Kafka (acknowledged); the decision will follow at the Location',
              headers: { Location: { schema: { type: 'string' } } },
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Accepted' } } },
            },
            '400': problem,
            '401': problem,
            '413': problem,
            '415': problem,
            '422': problem,
            '503': problem,
          },
        },
      },
      '/v1/redemptions/{coupon}/{request_id}': {
        get: {
          summary: 'The decision stored for a request',
          parameters: [
            { name: 'coupon', in: 'path', required: true, schema: { type: 'string' } },
            { name: 'request_id', in: 'path', required: true, schema: { type: 'string' } },
          ],
          responses: {
            '200': { description: 'The stored decision', content: { 'application/json': { schema: { $ref: '#/components/schemas/StoredDecision' } } } },
            '401': problem,
            '404': problem,
          },
        },
      },
      '/healthz': { get: { summary: 'The process runs', security: [], responses: { '200': { description: 'ok' } } } },
      '/readyz': {
        get: {
          summary: 'Kafka and MySQL answer, and the server takes requests',
          security: [],
          responses: { '200': { description: 'ready' }, '503': { description: 'not ready, or shutting down' } },
        },
      },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        RedemptionRequested: {
          type: 'object',
          required: ['request_id', 'coupon_code', 'user_id', 'order_id', 'op', 'amount_cents', 'currency', 'occurred_at', 'source'],
          properties: {
            request_id: { type: 'string', description: 'Unique per request; a retry repeats it' },
            coupon_code: { type: 'string' },
            user_id: { type: 'string' },
            order_id: { type: 'string' },
            op: { enum: ['REDEEM', 'REVERSE'] },
            reverses_request_id: { type: ['string', 'null'], description: 'For REVERSE: the request_id of the redemption refunded' },
            amount_cents: { type: 'integer', minimum: 0 },
            currency: { type: 'string', pattern: '^[A-Z]{3}$' },
            occurred_at: {
              oneOf: [
                { type: 'string', format: 'date-time' },
                { type: 'integer', description: 'epoch millis' },
              ],
            },
            source: { type: 'string' },
          },
        },
        Accepted: {
          type: 'object',
          properties: { status: { const: 'accepted' }, request_id: { type: 'string' }, coupon_code: { type: 'string' }, decision_url: { type: 'string' } },
        },
        Decided: {
          type: 'object',
          properties: {
            status: { const: 'decided' },
            decision: { enum: ['APPLIED', 'REJECTED'] },
            reason: { enum: ['NOT_FOUND', 'NOT_YET_VALID', 'EXPIRED', 'EXHAUSTED', 'USER_LIMIT', 'NOT_REDEEMED', null] },
            retry: { type: 'boolean', description: 'The request id had been decided before: this is its original outcome' },
            record: { type: 'object', description: 'The RedemptionDecided audit record that answered (schemas/redemption-decided.avsc)' },
          },
        },
        StoredDecision: {
          type: 'object',
          properties: {
            status: { const: 'decided' },
            coupon_code: { type: 'string' },
            request_id: { type: 'string' },
            op: { enum: ['REDEEM', 'REVERSE'] },
            decision: { enum: ['APPLIED', 'REJECTED'] },
            reason: { type: ['string', 'null'] },
            remaining_quota: { type: ['integer', 'null'] },
            source_topic: { type: 'string' },
            source_partition: { type: 'integer' },
            source_offset: { type: 'integer' },
            decided_at: { type: 'string', format: 'date-time' },
          },
        },
        Problem: {
          type: 'object',
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            errors: { type: 'array', items: { type: 'object', properties: { field: { type: ['string', 'null'] }, detail: { type: 'string' } } } },
          },
        },
      },
    },
  };
}
