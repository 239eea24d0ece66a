/**
 * The flush's MySQL transaction alone (RedemptionStore.flush on the machine's MariaDB, a database of its
 * own, dropped at the end): a pool that sends several statements per round trip against one that sends
 * one per round trip, in alternating rounds of the same run. Per flush: wall time (p50/p90/p99, mean),
 * this process's CPU and MariaDB's (its first `mariadbd`). Run on a quiet host:
 *
 *   npx --no-install tsx bench/flush-transaction.ts [requests per flush, default 1] [flushes per round, default 1500]
 */
import { randomBytes } from 'node:crypto';

import { RedemptionStore } from '../consumers/redemption-store.js';
import type { SourcedRequest } from '../consumers/types.js';
import { loadConfig } from '../lib/config.js';
import { couponCodes, generateCoupons, upsertCoupons } from '../lib/coupon-catalog.js';
import { createKnex, localServerPid, migrateToLatest, withDatabase } from '../lib/mysql.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../producers/checkout-simulator.js';
import type { RedemptionRequested } from '../schemas/types.js';
import { processCpuSeconds } from './cpu.js';
import { percentile } from './latency.js';

const url = withDatabase(loadConfig(process.env).mysqlUrl, `redeem_fb_${randomBytes(3).toString('hex')}`);
await migrateToLatest(url);
const setup = createKnex(url);
await upsertCoupons(
  setup,
  generateCoupons({
    prefix: 'FB',
    count: 200,
    campaigns: 4,
    quota: 1_000_000,
    perUserLimit: 1000,
    validFrom: new Date('2020-01-01'),
    validUntil: new Date('2099-01-01'),
  }),
);
await setup.destroy();
const gen = simulateCheckout({ ...DEFAULT_SIMULATION, count: Number.MAX_SAFE_INTEGER, couponCodes: couponCodes('FB', 200), seed: 5 });
const mariadb = await localServerPid(url);
let offset = 0;
const batchSize = Number(process.argv[2] ?? 1);
const flushes = Number(process.argv[3] ?? 1500);
const batch = (): SourcedRequest[] =>
  Array.from({ length: batchSize }, () => ({ request: gen.next().value as RedemptionRequested, topic: 't', partition: 0, offset: offset++ }));
async function round(multi: boolean) {
  const knex = createKnex(url, { min: 1, max: 1 }, 10, { multipleStatements: multi });
  const store = new RedemptionStore(knex);
  const flush = (requests: readonly SourcedRequest[]) => store.flush(requests, { consumerId: 'fb', decidedAt: Date.now(), mode: { kind: 'commit' } });
  for (let i = 0; i < 50; i++) await flush(batch());
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  const mariadb0 = processCpuSeconds(mariadb);
  const t0 = performance.now();
  for (let i = 0; i < flushes; i++) {
    const requests = batch();
    const s = performance.now();
    await flush(requests);
    times.push(performance.now() - s);
  }
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const mariadbMs = (processCpuSeconds(mariadb) - mariadb0) * 1000;
  await knex.destroy();
  times.sort((a, b) => a - b);
  const q = (p: number) => percentile(times, p).toFixed(2);
  console.log(
    `${multi ? 'multi ' : 'single'} batch ${batchSize}: per flush p50 ${q(50)} p90 ${q(90)} p99 ${q(99)} ms, mean ${(wall / flushes).toFixed(2)} ms; node CPU ${((cpu.user + cpu.system) / 1000 / flushes).toFixed(3)} ms, mariadb CPU ${(mariadbMs / flushes).toFixed(3)} ms per flush`,
  );
}
for (let r = 0; r < 3; r++) {
  await round(false);
  await round(true);
}
const drop = createKnex(url);
await drop.raw(`DROP DATABASE ${url.split('/').pop()}`);
await drop.destroy();
