import { stackUp } from '../../scripts/stack/stack.js';

/**
 * The integration suite runs against the real stack: bring up whatever is not running (a no-op when
 * everything answers), so `npm test` works from a fresh clone.
 */
export default async function bringStackUp(): Promise<void> {
  await stackUp((line) => process.stderr.write(`[stack] ${line}\n`));
}
