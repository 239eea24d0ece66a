import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The checkout's root, the folder of package.json: the same whether the tools run from their source
 * (scripts/stack/stack.ts) or compiled (dist-cli/scripts/stack/stack.js, or the test suite's build). The
 * stack's own files (templates, pinned digests, Maven poms) and its .stack folder are found from it.
 */
export const CHECKOUT_DIR = ((): string => {
  const here = fileURLToPath(import.meta.url);
  for (let dir = dirname(here); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json in any folder above ${here}`);
  }
})();

/** scripts/stack/ of the checkout: the stack's templates, poms and pinned digests. */
export const STACK_ASSETS_DIR = join(CHECKOUT_DIR, 'scripts', 'stack');
