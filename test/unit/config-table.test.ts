/**
 * The configuration page carries the table `redeem config --markdown` prints from lib/config.ts, so the
 * documented defaults cannot drift from the declared ones (scripts/sync-config-table.sh rewrites it).
 */
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { configTableMarkdown } from '../../lib/config.js';

describe('docs/configuration.md', () => {
  it('carries the configuration table as the code declares it', () => {
    const page = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const table = /<!-- config-table:start -->\n([\s\S]*?)\n<!-- config-table:end -->/.exec(page)?.[1];
    expect(table).toBe(configTableMarkdown());
  });
});
