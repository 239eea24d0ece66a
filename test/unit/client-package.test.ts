import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { CLIENT_DEPENDENCIES, clientManifest, type Manifest } from '../../scripts/pack-client.js';

// The installable client's manifest (npm run pack:client): what a checkout installs.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;

/** The packages the library's sources import, following relative imports from index.ts. */
function importedPackages(): Set<string> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const queue = [join(ROOT, 'index.ts')];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(/^(?:import|export)\s[^;]*?from '([^']+)'/gm)) {
      if (spec!.startsWith('.')) queue.push(join(dirname(file), spec!.replace(/\.js$/, '.ts')));
      else if (!spec!.startsWith('node:') && spec !== 'coupon-redemption-pipeline')
        packages.add(
          spec!
            .split('/')
            .slice(0, spec!.startsWith('@') ? 2 : 1)
            .join('/'),
        );
    }
  }
  expect([...seen].map((f) => relative(ROOT, f)).filter((f) => f.startsWith('cli/') || f.startsWith('scripts/'))).toEqual([]);
  return packages;
}

describe('the client package', () => {
  it('depends on exactly what the library imports, kafkajs at the exact version, and runs no install script', () => {
    const manifest = clientManifest(root);
    expect(Object.keys(manifest.dependencies!).sort()).toEqual([...importedPackages()].sort());
    expect(manifest.dependencies!.kafkajs).toBe('2.2.4');
    expect(manifest).not.toHaveProperty('scripts');
    expect(manifest.files).toEqual(['dist/']);
    expect(CLIENT_DEPENDENCIES).not.toContain('knex');
  });

  it('this repository pins kafkajs to the version its patch is for, and its postinstall fails when the patch does not apply', () => {
    expect(root.dependencies!.kafkajs).toBe('2.2.4');
    expect(root.scripts!.postinstall).toBe('patch-package --error-on-fail');
  });
});
