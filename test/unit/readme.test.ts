import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { configTableMarkdown } from '../../lib/config.js';

describe('README', () => {
  it('carries the configuration table as the code declares it', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const table = /<!-- config-table:start -->\n([\s\S]*?)\n<!-- config-table:end -->/.exec(readme)?.[1];
    expect(table).toBe(configTableMarkdown());
  });
});
