import { consume, formatStats } from '../cli/commands/consume.js';
import { migrate } from '../cli/commands/migrate.js';
import { produceSimulation } from '../cli/commands/produce.js';
import { generateCoupons, upsertCoupons } from '../lib/coupon-catalog.js';
import type { Runtime } from '../lib/runtime.js';
import { stackUp } from './stack/stack.js';

export interface DemoOptions {
  requests: number;
  coupons: number;
  seed: number;
}

const DAY = 24 * 60 * 60 * 1000;

/**
 * The quick start: bring the stack up, migrate, make demo coupons (most valid, a few expired, quotas
 * small enough that hot ones run out), produce a checkout burst, consume it until idle, and summarise.
 */
export async function demo(rt: Runtime, o: DemoOptions, print: (line: string) => void): Promise<void> {
  print('== stack');
  await stackUp(print);
  print('== migrate');
  await migrate(rt, print);

  const startAt = new Date('2026-11-24T00:00:00Z');
  // Coupons of this run's own, so a second demo finds fresh quotas and prints the same kind of summary
  // (the state of earlier runs stays, as a pipeline's would).
  const run = o.seed.toString(36).toUpperCase();
  const valid = generateCoupons({
    count: o.coupons,
    prefix: `DEMO${run}`,
    campaigns: 5,
    quota: Math.max(10, Math.round((o.requests / o.coupons) * 4)),
    perUserLimit: 2,
    validFrom: new Date(startAt.getTime() - 30 * DAY),
    validUntil: new Date(startAt.getTime() + 30 * DAY),
  });
  const expired = generateCoupons({
    count: Math.max(1, Math.round(o.coupons / 20)),
    prefix: `OLD${run}`,
    campaigns: 1,
    quota: 1000,
    perUserLimit: 1,
    validFrom: new Date(startAt.getTime() - 60 * DAY),
    validUntil: new Date(startAt.getTime() - 30 * DAY),
  });
  await upsertCoupons(rt.knex(), [...valid, ...expired]);
  print(`== coupons: ${valid.length} DEMO${run}-* (quota ${valid[0]!.quota}, 2 per user), ${expired.length} expired OLD${run}-*`);

  print(`== produce: ${o.requests} checkout requests (seed ${o.seed})`);
  // Expired coupons sit in the lukewarm middle of the popularity order, so a few requests hit them.
  const codes = [...valid.map((c) => c.code)];
  codes.splice(Math.floor(codes.length / 2), 0, ...expired.map((c) => c.code));
  const started = Date.now();
  const produced = await produceSimulation(
    rt,
    { count: o.requests, couponCodes: codes, seed: o.seed, startAt, users: Math.max(50, o.requests / 10) },
    { rate: null, progress: true },
  );
  print(`produced ${produced} in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  print('== consume (until idle for 3 s)');
  const stats = await consume(rt, { exitWhenIdle: 3 });
  print('== summary');
  print(`produced     ${produced}`);
  print(formatStats(stats));
}
