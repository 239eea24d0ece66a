/**
 * Recovery after kill -9: a consumer drains the requests topic until about a quarter is committed and is
 * killed with SIGKILL (no leave-group, no offset commit); a fresh consumer is started at once. Times,
 * from the kill: the first offsets the fresh consumer commits (its first decisions, which wait until the
 * dead member is removed from the group) and the end of the drain; verified.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import type { Config } from '../../lib/config.js';
import type { Runtime } from '../../lib/runtime.js';
import { ConsumerProcess } from '../../scripts/harness/consumer-process.js';
import type { RecoveryRun } from '../result.js';
import { type BenchContext, round } from './context.js';
import { requestsTopicData } from './data.js';
import { committedTotal } from './load-run.js';

export async function recoveryStage(ctx: BenchContext): Promise<RecoveryRun> {
  const { o, base } = ctx;
  await requestsTopicData(ctx);
  const c = ctx.ns('rec');
  await ctx.prepare(c);
  const session = o.recoverySessionTimeoutMs;
  ctx.print(
    `recovery: kill -9 a consumer mid-drain, start a fresh one${session ? ` (session timeout ${session} ms)` : ` (session timeout ${base.sessionTimeoutMs} ms, as configured)`}`,
  );
  const env = session ? { ...ctx.envOf(c), SESSION_TIMEOUT_MS: String(session), HEARTBEAT_INTERVAL_MS: String(Math.floor(session / 4)) } : ctx.envOf(c);
  const recovery = {
    sessionTimeoutMs: session ?? base.sessionTimeoutMs,
    ...(await recoveryRun(ctx.rt, c, env, o.requests)),
    correct: await ctx.check(c),
  };
  ctx.print(`  first decision ${recovery.firstDecisionSeconds} s after the kill, drained ${recovery.drainedSeconds} s after it; correct: ${recovery.correct}`);
  return recovery;
}

async function recoveryRun(
  rt: Runtime,
  c: Config,
  env: Record<string, string>,
  total: number,
): Promise<{ killedAfterDecided: number; firstDecisionSeconds: number | null; drainedSeconds: number }> {
  const start = (extra: Record<string, string> = {}) => new ConsumerProcess({ ...process.env, ...env, ...extra }, { args: ['--exit-when-idle', '3'] });
  const admin = rt.kafka().admin();
  await admin.connect();
  const committed = () => committedTotal(admin, c.consumerGroup, c.redemptionTopic);
  try {
    // Small flushes one at a time, so that the first member cannot commit the whole topic (a smoke-sized
    // one fits a single default flush) before it is seen past a quarter and killed.
    const first = start({ FLUSH_MAX_MESSAGES: String(Math.max(10, Math.floor(total / 20))), FLUSH_CONCURRENCY: '1' });
    while ((await committed()) < total / 4) await sleep(20);
    first.child.kill('SIGKILL');
    const killedAt = performance.now();
    await first.exited;
    const second = start();
    const atKill = await committed();
    let firstDecisionSeconds: number | null = null;
    for (;;) {
      const now = await committed();
      if (firstDecisionSeconds === null && now > atKill) firstDecisionSeconds = round((performance.now() - killedAt) / 1000, 1);
      if (now >= total) break;
      await sleep(100);
    }
    const drainedSeconds = round((performance.now() - killedAt) / 1000, 1);
    await second.exited;
    return { killedAfterDecided: atKill, firstDecisionSeconds, drainedSeconds };
  } finally {
    await admin.disconnect();
  }
}
