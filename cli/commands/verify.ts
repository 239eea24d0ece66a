/**
 * `redeem verify`: the expected state recomputed from the whole requests topic and compared with MySQL
 * and the audit stream (verify/verify.ts). Ctrl-C stops the reading and says so: nothing was compared,
 * and running it again is safe, as verify only reads.
 */
import type { Runtime } from '../../lib/runtime.js';
import { formatVerifyReport, pipelineVerifyOptions, verify, VerifyStopped } from '../../verify/verify.js';
import { Interrupted } from '../failures.js';
import { StopRequest } from '../stop-request.js';

/** Prints the report; false when MySQL or the audit stream differ from what the topic says. */
export async function verifyCommand(rt: Runtime, o: { progress: boolean }, print: (line: string) => void): Promise<boolean> {
  const stop = new StopRequest('verify only reads: run it again');
  try {
    const report = await verify({ ...pipelineVerifyOptions(rt), progress: o.progress, abandon: stop.stopped });
    print(formatVerifyReport(report));
    return report.equal;
  } catch (error) {
    if (!(error instanceof VerifyStopped)) throw error;
    throw new Interrupted(`interrupted: ${error.message}; run it again to verify (it only reads)`);
  } finally {
    stop.dispose();
  }
}
