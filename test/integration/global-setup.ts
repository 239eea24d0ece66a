import type { TestProject } from 'vitest/node';

import { stackUp } from '../../scripts/stack/stack.js';
import { CLUSTER_FILES, type ClusterProfileRun, startClusterProfile } from './cluster-profile.js';
import { compileCli, type CompiledCli } from './compiled-cli.js';
import { namedTestFiles } from './named-files.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The `redeem` entry the tests spawn: this run's build of the checkout's source (compiled-cli.ts). */
    redeemEntry: string;
    /** Where the start of the cluster profile is reported (cluster-profile.ts), when the run uses it. */
    clusterProfileStatus?: string;
  }
}

/** What the run's two integration projects share: set up once, torn down by the last of them. */
interface Shared {
  ready: Promise<{ cli: CompiledCli; cluster: ClusterProfileRun | null }>;
  users: number;
}
const SHARED = Symbol.for('coupon-redemption-pipeline.integration-setup');
const state = globalThis as { [SHARED]?: Shared };

const print = (tag: string) => (line: string) => process.stderr.write(`[${tag}] ${line}\n`);

/**
 * Whether the run includes a file that uses the cluster profile: yes unless the command line names test
 * files (not folders) and none of them is one of those.
 */
function usesClusterProfile(): boolean {
  const named = namedTestFiles();
  return named.length === 0 || named.some((arg) => !arg.endsWith('.test.ts') || CLUSTER_FILES.some((name) => arg.endsWith(`${name}.test.ts`)));
}

/**
 * The integration suite runs against the real stack: bring up whatever is not running (a no-op when
 * everything answers), so `npm test` works from a fresh clone; meanwhile compile the CLI the tests spawn.
 * The cluster profile's lock, when the run uses the profile, is taken in the background once the stack
 * is up (its clusters are started by the files that use them).
 */
async function start(): Promise<{ cli: CompiledCli; cluster: ClusterProfileRun | null }> {
  const began = Date.now();
  const compiling = compileCli().then((cli) => {
    print('setup')(`compiled the CLI in ${((Date.now() - began) / 1000).toFixed(1)} s`);
    return cli;
  });
  const [cli] = await Promise.all([compiling, stackUp(print('stack'))]);
  return { cli, cluster: usesClusterProfile() ? startClusterProfile(print('cluster')) : null };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const shared = (state[SHARED] ??= { ready: start(), users: 0 });
  shared.users++;
  const { cli, cluster } = await shared.ready;
  project.provide('redeemEntry', cli.entry);
  if (cluster) project.provide('clusterProfileStatus', cluster.statusFile);
  return async () => {
    if (--shared.users > 0) return;
    delete state[SHARED];
    try {
      await cluster?.finish();
    } finally {
      cli.remove();
    }
  };
}
