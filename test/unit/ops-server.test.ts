import { connect } from 'node:net';
import type { Server } from 'node:http';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { startOpsServer } from '../../consumers/ops-server.js';

/** Whether a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(2000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('the metrics server', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  });
  const probe = { registry: new Registry(), ready: () => true };

  it('listens on the loopback interface only by default', async () => {
    const host = loadConfig({}).metricsHost;
    expect(host).toBe('127.0.0.1');
    const { server, port, host: bound } = await startOpsServer(0, probe, host);
    servers.push(server);
    expect(bound).toBe('127.0.0.1');
    expect(await accepts('127.0.0.1', port)).toBe(true);
    // 127.0.0.2 is another address of the loopback device on Linux: a server bound to every interface
    // answers on it, one bound to 127.0.0.1 does not, just as it does not answer on the host's LAN address.
    expect(await accepts('127.0.0.2', port)).toBe(false);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });

  it('listens where METRICS_HOST says', async () => {
    const { server, port, host } = await startOpsServer(0, probe, loadConfig({ METRICS_HOST: '0.0.0.0' }).metricsHost);
    servers.push(server);
    expect(host).toBe('0.0.0.0');
    expect(await accepts('127.0.0.2', port)).toBe(true);
  });

  it('refuses a METRICS_HOST that is not an address, naming the setting', () => {
    expect(() => loadConfig({ METRICS_HOST: '' })).toThrow(/METRICS_HOST: must be an IP address or host name/);
    expect(() => loadConfig({ METRICS_HOST: 'http://0.0.0.0' })).toThrow(/METRICS_HOST: must be an IP address or host name/);
  });
});
