/**
 * A checkout service's side of the pipeline, as thin as the client makes it: an HTTP endpoint (bound to
 * 127.0.0.1) that asks to redeem a coupon and answers once the request is in Kafka, or, with ?wait=MS,
 * with its decision. It uses the package as an upstream service would:
 *
 *   import { RedemptionClient, RequestRefusedError } from 'coupon-redemption-pipeline';
 *
 * - one client for the process, made at start (it checks the topic, registers or finds the schema);
 * - `send` per checkout (202 once Kafka has it), or `redeem` to wait for the decision (200 with it; 202
 *   when it did not come in time: the request is in Kafka and will still be decided);
 * - a refused request (RequestRefusedError) is the caller's mistake: 422 with the problems, nothing sent;
 * - SIGTERM/SIGINT: stop taking checkouts, wait for those accepted to be acknowledged, disconnect.
 *
 * For a full HTTP entry (auth, TLS, OpenAPI, look-ups) run `redeem serve` instead (docs/clients.md).
 *
 * Run: npx --no-install tsx examples/checkout.ts   (PORT, default 8080; KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDEMPTION_TOPIC, AUDIT_TOPIC)
 *      curl -X POST 'localhost:8080/redemptions?wait=2000' -d '{"request_id":"r1","coupon_code":"DEMO-000001",...}'
 */
import { createServer, type IncomingMessage } from 'node:http';

import { DecisionTimeoutError, RedemptionClient, requestFromJson, RequestRefusedError } from 'coupon-redemption-pipeline';

const client = await RedemptionClient.create({
  brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
  schemaRegistryUrl: process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7',
  topic: process.env.REDEMPTION_TOPIC ?? 'redemption.requested',
  auditTopic: process.env.AUDIT_TOPIC ?? 'redemption.decided',
  clientId: 'checkout-example',
});

async function body(req: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return JSON.parse(text) as unknown;
}

const server = createServer((req, res) => {
  const answer = (status: number, payload: unknown) => res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(payload));
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'POST' || url.pathname !== '/redemptions') return answer(404, { error: 'POST /redemptions[?wait=MS]' });
  const wait = Number(url.searchParams.get('wait') ?? 0);
  body(req)
    .then(async (input) => {
      const parsed = requestFromJson(input);
      if ('problems' in parsed) return answer(422, { problems: parsed.problems });
      if (!(wait > 0)) {
        await client.send(parsed.request);
        return answer(202, { accepted: parsed.request.request_id });
      }
      const { decision, reason, retry } = await client.redeem(parsed.request, { timeoutMs: wait });
      answer(200, { request_id: parsed.request.request_id, decision, reason, retry });
    })
    .catch((error: unknown) => {
      if (error instanceof RequestRefusedError) answer(422, { problems: error.problems });
      else if (error instanceof DecisionTimeoutError && error.acknowledged) answer(202, { accepted: error.requestId });
      else if (error instanceof SyntaxError) answer(400, { error: 'the body is not JSON' });
      else answer(503, { error: (error as Error).message });
    });
});

const port = Number(process.env.PORT ?? 8080);
server.listen(port, '127.0.0.1', () => process.stderr.write(`checkout example listening on :${(server.address() as { port: number }).port}\n`));

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    // No new checkouts; the ones accepted are acknowledged by the broker before the client leaves.
    server.close();
    client.disconnect().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`shutdown failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  });
}
