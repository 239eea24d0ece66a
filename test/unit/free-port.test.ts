import { describe, expect, it } from 'vitest';

import { ephemeralRangeStart, freePort, listenable } from '../../scripts/stack/own-servers.js';

describe('freePort: a port for a server started later', () => {
  // The kernel's pick lies in the range outgoing connections take their local ports from: a secured
  // broker started 20 s after the pick found its port taken by one of them (secure-stack.test.ts, CI).
  it('lies below the kernel ephemeral range, from 20000, and can be listened on', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThanOrEqual(20_000);
    expect(port).toBeLessThan(ephemeralRangeStart());
    expect(await listenable(port)).toBe(port);
  });

  it('never hands the same port out twice in a process', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 30; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
  });
});
