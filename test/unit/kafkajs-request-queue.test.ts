import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, it } from 'vitest';

/**
 * KafkaJS's per-connection request queue, as patches/kafkajs+2.2.4.patch leaves it: with nothing pending
 * it schedules no check. Unpatched, the check rescheduled itself every millisecond for as long as the
 * connection lived (a timeout of throttledUntil - now, negative when not throttled): an idle consumer
 * spent about 9% of a core on it, and the test suite's few hundred processes a good part of its time.
 */
const require = createRequire(import.meta.url);
interface SocketRequest {
  correlationId: number;
}
interface Queue {
  pending: SocketRequest[];
  inflight: Map<number, SocketRequest>;
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  sendSocketRequest(request: SocketRequest): void;
  maybeThrottle(clientSideThrottleTime: number): void;
  destroy(): void;
}
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (o: object) => Queue;
const { createLogger, LEVELS } = require('kafkajs/src/loggers/index.js') as { createLogger: (o: object) => unknown; LEVELS: { NOTHING: number } };

function queue(): { queue: Queue; checks: () => number; sent: SocketRequest[] } {
  const q = new RequestQueue({
    instrumentationEmitter: null,
    maxInFlightRequests: 1,
    requestTimeout: 30_000,
    enforceRequestTimeout: false,
    clientId: 'test',
    broker: '127.0.0.1:1',
    logger: createLogger({ level: LEVELS.NOTHING, logCreator: () => () => undefined }),
    isConnected: () => true,
  });
  let checks = 0;
  const check = q.checkPendingRequests.bind(q);
  q.checkPendingRequests = () => {
    checks++;
    check();
  };
  const sent: SocketRequest[] = [];
  q.sendSocketRequest = (request) => void sent.push(request);
  return { queue: q, checks: () => checks, sent };
}

describe('the KafkaJS patch: the request queue of a connection', () => {
  it('with nothing pending, checks once and schedules nothing', async () => {
    const { queue: q, checks } = queue();
    try {
      q.checkPendingRequests();
      expect(q.throttleCheckTimeoutId).toBeNull();
      await sleep(50);
      // Unpatched: about 50 checks in 50 ms, and a timer always scheduled.
      expect(checks()).toBe(1);
    } finally {
      q.destroy();
    }
  });

  it('a request held back while throttled is sent once the throttle ends, and then nothing is scheduled', async () => {
    const { queue: q, sent } = queue();
    try {
      q.throttledUntil = Date.now() + 40;
      q.pending.push({ correlationId: 7 });
      q.checkPendingRequests();
      expect(sent).toEqual([]);
      expect(q.throttleCheckTimeoutId).not.toBeNull();
      await sleep(100);
      expect(sent.map((r) => r.correlationId)).toEqual([7]);
      expect(q.pending).toEqual([]);
      expect(q.throttleCheckTimeoutId).toBeNull();
    } finally {
      q.destroy();
    }
  });
});
