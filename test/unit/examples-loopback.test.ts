import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === '__pycache__' ? [] : files(join(dir, e.name))) : /\.(ts|py|mjs|js)$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

/**
 * Issue 21: examples/checkout.ts listened on every interface with an unauthenticated endpoint that writes
 * to Kafka. Every example that listens binds loopback unless told otherwise.
 */
describe('the examples listen on loopback by default', () => {
  it('each listen() or bind names 127.0.0.1 (or a setting whose default is it)', () => {
    const listening: string[] = [];
    for (const file of files(EXAMPLES)) {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (!/\.listen\(|\.bind\(\(|HTTPServer\(|serve_forever|app\.run\(/.test(line)) continue;
        listening.push(`${file.slice(EXAMPLES.length)}: ${line.trim()}`);
        expect(line, file).toMatch(/127\.0\.0\.1|\bHOST\b/);
      }
    }
    expect(listening.length).toBeGreaterThan(0);
  });
});
