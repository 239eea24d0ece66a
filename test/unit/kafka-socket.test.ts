import { createServer, type Server, Socket as NetSocket, type Socket } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { noDelaySocket } from '../../lib/kafka.js';

/** Node keeps whether Nagle's algorithm is off under an internal symbol; no public getter exists. */
const noDelayOf = (socket: Socket): unknown => {
  const symbol = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'kSetNoDelay');
  if (!symbol) throw new Error('this Node.js keeps no kSetNoDelay on its sockets: read the flag another way');
  return (socket as unknown as Record<symbol, unknown>)[symbol];
};

describe("the Kafka clients' sockets", () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer((s) => s.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("turn Nagle's algorithm off (a request written while another is unanswered goes at once)", async () => {
    const socket = await new Promise<Socket>((resolve) => {
      const s = noDelaySocket({ host: '127.0.0.1', port, ssl: false as never, onConnect: () => resolve(s) });
    });
    expect(noDelayOf(socket)).toBe(true);
    socket.destroy();
    // A plain socket has it on: the check can tell the two apart.
    expect(noDelayOf(new NetSocket())).toBe(false);
  });
});
