/**
 * A checkout service's side of the pipeline: an HTTP endpoint that asks to redeem (or refund) a coupon
 * and answers once the request is safely in Kafka. It uses the package as an upstream service would:
 *
 *   import { RedemptionProducer, RequestRefusedError } from 'coupon-redemption-pipeline';
 *
 * - one producer for the process, made at start (it registers or finds the schema, connects);
 * - `send` per checkout: concurrent checkouts are batched into one produce call, acks=all, idempotent,
 *   retried by the producer without duplicates or reordering; it resolves once the broker has the request;
 * - a refused request (RequestRefusedError: empty fields, a negative amount, ...) is the caller's
 *   mistake: 422 with the problems, nothing sent;
 * - SIGTERM/SIGINT: stop taking checkouts, wait for those accepted to be acknowledged, disconnect.
 *
 * Run: npm run build   (the package name resolves to this checkout's dist/), then
 *      npx --no-install tsx examples/checkout.ts   (PORT, default 8080; KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDEMPTION_TOPIC)
 *      curl -X POST localhost:8080/redemptions -H 'Content-Type: application/json' -d @request.json
 *      (every field of a request, as JSON: docs/clients.md, "A request")
 */
import { createServer, type IncomingMessage } from 'node:http';

import { RedemptionProducer, requestFromJson, RequestRefusedError } from 'coupon-redemption-pipeline';

const producer = await RedemptionProducer.create({
  brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
  schemaRegistryUrl: process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7',
  topic: process.env.REDEMPTION_TOPIC ?? 'redemption.requested',
  clientId: 'checkout-example',
});

async function body(req: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return JSON.parse(text) as unknown;
}

const server = createServer((req, res) => {
  const answer = (status: number, payload: unknown) => res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(payload));
  if (req.method !== 'POST' || req.url !== '/redemptions') return answer(404, { error: 'POST /redemptions' });
  body(req)
    .then(async (input) => {
      const parsed = requestFromJson(input);
      if ('problems' in parsed) return answer(422, { problems: parsed.problems });
      await producer.send(parsed.request);
      answer(202, { accepted: parsed.request.request_id });
    })
    .catch((error: unknown) => {
      if (error instanceof RequestRefusedError) answer(422, { problems: error.problems });
      else if (error instanceof SyntaxError) answer(400, { error: 'the body is not JSON' });
      else answer(503, { error: (error as Error).message });
    });
});

const port = Number(process.env.PORT ?? 8080);
server.listen(port, () => process.stderr.write(`checkout example listening on :${(server.address() as { port: number }).port}\n`));

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    // No new checkouts; the ones accepted are acknowledged by the broker before the producer leaves.
    server.close();
    producer.disconnect().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`shutdown failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  });
}
