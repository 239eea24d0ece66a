import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import semver from 'semver';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface LockedPackage {
  version?: string;
  engines?: { node?: string } | string[];
}

/**
 * What `npm ci` installs must declare that it runs on the Node.js the project supports (its own
 * `engines`, >=20): a package that declares a newer one is untested there by its authors, and npm only
 * warns about it. (cookie 2 declares >=22; fastify's light-my-request took it from 6.8.0, so the lock
 * pins light-my-request to 6.6.0, on cookie 1.)
 */
describe('the installed packages run on the Node.js the project supports', () => {
  const lock = JSON.parse(readFileSync(`${ROOT}/package-lock.json`, 'utf8')) as { packages: Record<string, LockedPackage> };
  const supported = (JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { engines: { node: string } }).engines.node;
  const oldest = semver.minVersion(supported)!;

  it("reads the project's own range", () => {
    expect(oldest.major).toBe(20);
    expect(semver.satisfies(process.versions.node, supported)).toBe(true);
  });

  it('finds no locked package whose engines refuse the running Node.js or the oldest the project supports', () => {
    const refusing = Object.entries(lock.packages).flatMap(([path, p]) => {
      const range = Array.isArray(p.engines) ? undefined : p.engines?.node;
      if (!path || range === undefined) return [];
      const refuses = [process.versions.node, `${oldest.major}.99.0`].filter((v) => !semver.satisfies(v, range));
      return refuses.length > 0 ? [`${path}@${p.version}: node ${range}`] : [];
    });
    expect(refusing).toEqual([]);
  });
});
