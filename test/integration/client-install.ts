import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  [other: string]: unknown;
}

/**
 * The packed client (`npm run pack:client`) installed into a fresh temporary project, as a checkout would
 * install it, without the network: the project's lockfile names the tarball and, for its dependencies,
 * the very versions and tarballs this repository's lockfile has (npm ci put them in npm's cache; npm's
 * cache has no registry metadata to resolve version ranges with, so a lockfile is what lets `npm ci
 * --offline` work). Nothing of this repository's postinstall runs: kafkajs there is the unpatched 2.2.4.
 * Returns the project's folder. Asynchronous, so that it can run beside other waits (a cluster's start).
 */
export async function installPackedClient(): Promise<string> {
  const project = mkdtempSync(join(tmpdir(), 'redeem-checkout-'));
  const packed = await run(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'scripts/pack-client.ts', '--out', project], { cwd: ROOT, encoding: 'utf8' });
  const tarball = packed.stdout.trim().split('\n').pop()!;
  const manifest = JSON.parse((await run('tar', ['xzf', tarball, '-O', 'package/package.json'], { encoding: 'utf8' })).stdout) as {
    name: string;
    version: string;
    dependencies: Record<string, string>;
    engines?: unknown;
  };
  const spec = `file:${tarball.slice(project.length + 1)}`;
  const packages: Record<string, LockEntry> = {
    '': { name: 'checkout', version: '1.0.0', dependencies: { [manifest.name]: spec } },
    [`node_modules/${manifest.name}`]: {
      version: manifest.version,
      resolved: spec,
      integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
      dependencies: manifest.dependencies,
      engines: manifest.engines,
    },
    ...dependencyClosure(Object.keys(manifest.dependencies)),
  };
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'checkout', version: '1.0.0', private: true, type: 'module', dependencies: { [manifest.name]: spec } }),
  );
  writeFileSync(join(project, 'package-lock.json'), JSON.stringify({ name: 'checkout', version: '1.0.0', lockfileVersion: 3, requires: true, packages }));
  await run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: project });
  return project;
}

/** This repository's lockfile entries of `names` and everything they need, where Node would find them. */
function dependencyClosure(names: readonly string[]): Record<string, LockEntry> {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const found = (from: string, name: string): string | null => {
    for (let base = from; ;) {
      const path = `${base === '' ? '' : `${base}/`}node_modules/${name}`;
      if (lock.packages[path]) return path;
      if (base === '') return null;
      const i = base.lastIndexOf('/node_modules/');
      base = i < 0 ? '' : base.slice(0, i);
    }
  };
  const closure: Record<string, LockEntry> = {};
  const required = (from: string, name: string): string => {
    const path = found(from, name);
    if (path === null) throw new Error(`package-lock.json has no ${name} (needed from ${from || 'the client'})`);
    return path;
  };
  const queue = names.map((name) => required('', name));
  while (queue.length > 0) {
    const path = queue.pop()!;
    if (closure[path]) continue;
    // Dependencies of the checkout now, whatever they were here.
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = lock.packages[path]!;
    closure[path] = entry;
    for (const name of Object.keys(entry.dependencies ?? {})) queue.push(required(path, name));
    // An optional dependency this machine did not install is not needed here either.
    for (const name of Object.keys(entry.optionalDependencies ?? {})) {
      const optional = found(path, name);
      if (optional !== null) queue.push(optional);
    }
  }
  return closure;
}
