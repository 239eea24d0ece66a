import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';

import type { Admin } from 'kafkajs';

import type { Runtime } from '../lib/runtime.js';
import type { DashboardOptions } from './options.js';
import { PAGE } from './page.js';
import { type Snapshot, SnapshotSource } from './snapshot.js';

/** Chart.js's browser build, from the installed package (its exports name no subpath: found beside its main file). */
function chartJs(): string {
  const main = createRequire(import.meta.url).resolve('chart.js');
  return readFileSync(join(dirname(main), 'chart.umd.min.js'), 'utf8');
}

export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

/**
 * `redeem dashboard`: serves the live page on / (with /chart.js), the latest snapshot on /api/snapshot
 * and a snapshot per update on /events (server-sent events). One gathering loop serves every viewer.
 */
export async function startDashboard(rt: Runtime, admin: Admin, o: DashboardOptions): Promise<Dashboard> {
  const source = new SnapshotSource(rt, admin, o.metrics);
  const script = chartJs();
  const viewers = new Set<ServerResponse>();
  let latest: Snapshot | undefined;
  let lastFailure = '';
  const gather = async () => {
    try {
      latest = await source.next();
      lastFailure = '';
      const message = `data: ${JSON.stringify(latest)}\n\n`;
      for (const viewer of viewers) viewer.write(message);
    } catch (error) {
      // Said once per new failure, not at every update.
      if ((error as Error).message !== lastFailure) rt.logger.warn({ err: error }, 'dashboard: gathering the figures failed; trying again at each update');
      lastFailure = (error as Error).message;
    }
  };
  await gather();
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void gather().finally(() => (running = false));
  }, o.intervalMs);

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    else if (path === '/chart.js') res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'max-age=3600' }).end(script);
    else if (path === '/api/snapshot') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(latest ?? null));
    else if (path === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      if (latest) res.write(`data: ${JSON.stringify(latest)}\n\n`);
      viewers.add(res);
      req.on('close', () => viewers.delete(res));
    } else res.writeHead(404, { 'content-type': 'text/plain' }).end('try /, /api/snapshot or /events\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          error.code === 'EADDRINUSE' ? `--port ${o.port} is already in use (pick another, or 0)` : `cannot listen on ${o.host}:${o.port}: ${error.message}`,
          { cause: error },
        ),
      ),
    );
    server.listen(o.port, o.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/`,
    close: async () => {
      clearInterval(timer);
      for (const viewer of viewers) viewer.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
