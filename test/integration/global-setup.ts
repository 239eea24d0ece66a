import { stackStatus } from '../../scripts/stack/stack.js';

/** The integration suite needs the real stack; say how to get it rather than fail test by test. */
export default async function checkStack(): Promise<void> {
  const down = (await stackStatus()).filter((s) => !s.up);
  if (down.length > 0) {
    throw new Error(`the local stack is not up (${down.map((s) => `${s.component} on ${s.address}`).join(', ')}): run \`npx redeem stack up\` first`);
  }
}
