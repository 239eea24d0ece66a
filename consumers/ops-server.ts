import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface OpsProbe {
  registry: Registry;
  /** Ready: in the group with partitions to work on, and not shutting down. */
  ready(): boolean;
}

/**
 * The consumer's operations endpoint: Prometheus metrics on /metrics, liveness on /healthz (the event
 * loop answers) and readiness on /readyz. Port 0 takes a free port, for several consumers on one host.
 * It has no authentication and tells whoever asks about the pipeline's traffic, so it listens on the
 * loopback interface unless METRICS_HOST widens it.
 */
export async function startOpsServer(port: number, probe: OpsProbe, host = '127.0.0.1'): Promise<{ server: Server; port: number; host: string }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      probe.registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': probe.registry.contentType });
          res.end(body);
        },
        (error: unknown) => {
          res.writeHead(500).end(String(error));
        },
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ready = probe.ready();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('try /metrics, /healthz or /readyz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new Error(error.code === 'EADDRINUSE' ? `METRICS_PORT: port ${port} is already in use (set another, or 0 for any free port)` : `METRICS_HOST/METRICS_PORT: cannot listen on ${host}:${port}: ${error.message}`, { cause: error })),
    );
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return { server, port: address.port, host: address.address };
}
