// `npm run -s pack:client [-- --out DIR]`: the installable client package, a tarball made by `npm pack`.
//
// The repository is the whole service; a checkout needs only the client library: dist/ as `npm run build`
// makes it (index.ts and what it imports, with the .avsc schemas), a manifest with the client's own
// dependencies (not knex, mysql2, ioredis...), kafkajs at exactly the version the project is tested with,
// and no scripts: this repository's postinstall (patch-package) would break every install. The client
// does not depend on the KafkaJS patch (producers/acknowledged-send.ts). Prints the tarball's path.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** What dist/ imports (test/unit/client-package.test.ts checks this against the built files). */
export const CLIENT_DEPENDENCIES = ['@kafkajs/confluent-schema-registry', 'avsc', 'fzstd', 'kafkajs', 'lz4js', 'pino', 'snappyjs'];

/** The packed manifest, from the repository's own (one place for names and versions). */
export interface Manifest {
  name: string;
  version: string;
  main?: string;
  types?: string;
  exports?: unknown;
  engines?: unknown;
  dependencies?: Record<string, string>;
  scripts?: Record<string, string>;
}

export function clientManifest(root: Manifest): Manifest & { files: string[]; description: string; type: string } {
  const dependencies = Object.fromEntries(
    CLIENT_DEPENDENCIES.map((name) => {
      const version = root.dependencies?.[name];
      if (!version) throw new Error(`package.json has no dependency ${name}`);
      return [name, version];
    }),
  );
  return {
    name: root.name,
    version: root.version,
    description: 'Client of the coupon-redemption pipeline: send RedemptionRequested events to Kafka, acknowledged once each',
    type: 'module',
    main: root.main,
    types: root.types,
    exports: root.exports,
    files: ['dist/'],
    engines: root.engines,
    dependencies,
  };
}

function main(): void {
  const args = process.argv.slice(2);
  const outIndex = args.indexOf('--out');
  const out = resolve(outIndex >= 0 ? (args[outIndex + 1] ?? '.') : '.');
  const root = JSON.parse(readFileSync('package.json', 'utf8')) as Manifest;
  execFileSync('npm', ['run', '-s', 'build'], { stdio: 'inherit' });
  if (!existsSync('dist/index.js') || !existsSync('dist/schemas/redemption-requested.avsc')) throw new Error('npm run build did not make dist/');
  const stage = mkdtempSync(join(tmpdir(), 'redeem-client-pack-'));
  try {
    cpSync('dist', join(stage, 'dist'), { recursive: true });
    writeFileSync(join(stage, 'package.json'), `${JSON.stringify(clientManifest(root), null, 2)}\n`);
    mkdirSync(out, { recursive: true });
    const [packed] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', out], { cwd: stage, encoding: 'utf8' })) as { filename: string }[];
    process.stdout.write(`${join(out, packed!.filename)}\n`);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
