import { describe, expect, it } from 'vitest';

import { liveMembersRemoved } from '../../scripts/harness/consumer-process.js';

/** The chaos run's count of live members removed, from the consumers' logs and the kill -9 times. */
const removal = (process: string, time: number) => JSON.stringify({ level: 40, time, process, msg: 'removed a dead member from the group: ...' });

describe('live members removed', () => {
  it('counts a removal of a process that was not killed, or was killed only after it', () => {
    const logs = [
      { stderr: [removal('host-7-1234-abcdef', 5000), '{"msg":"joined the group"}', 'a summary line'].join('\n') },
      { stderr: [removal('host-7-2222-0a0b0c', 9000), removal('host-7-3333-0a0b0c', 9000)].join('\n') },
    ];
    // 1234 was killed before its removal (dead); 2222 after it (alive when removed); 3333 never.
    expect(
      liveMembersRemoved(
        logs,
        new Map([
          [1234, 4000],
          [2222, 9500],
        ]),
      ),
    ).toBe(2);
    expect(
      liveMembersRemoved(
        logs,
        new Map([
          [1234, 4000],
          [2222, 8000],
          [3333, 1],
        ]),
      ),
    ).toBe(0);
  });
});
