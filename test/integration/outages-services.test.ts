import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../lib/config.js';
import { localServerPid } from '../../lib/mysql.js';
import { metricTotal } from '../../scripts/harness/consumer-process.js';
import { OwnKafka } from '../../scripts/stack/own-servers.js';
import { outageHarness, SESSION_TIMEOUT_MS } from './outage-harness.js';

// MySQL and Kafka outages (Redis ones: outages.test.ts), on a MariaDB and a broker of this file's own.
const { mariadb, pipelines, underLoad } = outageHarness();

describe('MySQL and broker outages heal by themselves, losing nothing and applying nothing twice', () => {
  it("a pause of MySQL finds the server MYSQL_URL names (this file's own beside the machine's), and refuses one on another host", async () => {
    // The chaos run's pause-mysql on configured servers used to stop whichever mariadbd `pidof` listed first.
    const own = await localServerPid(mariadb().url('mysql'));
    const machine = await localServerPid(loadConfig({}).mysqlUrl);
    expect(own).toBe(mariadb().pid);
    expect(machine).not.toBe(own);
    expect(readFileSync(`/proc/${machine}/comm`, 'utf8').trim()).toMatch(/^(mariadbd|mysqld)$/);
    await expect(localServerPid('mysql://root@db.example.com:3306/x')).rejects.toThrow(/db\.example\.com \(MYSQL_URL\) is not on this machine/);
  });

  it('MySQL stalled for three session timeouts: no rebalance, nothing lost', async () => {
    const { metrics } = await underLoad({}, () => mariadb().pause(3 * SESSION_TIMEOUT_MS));
    expect(metricTotal(metrics, 'redeem_rebalances_total')).toBe(0);
  });

  it('lock-wait timeouts are retried until the foreign lock goes', async () => {
    const { metrics } = await underLoad({ MYSQL_LOCK_WAIT_TIMEOUT_SECONDS: '1' }, async (p) => {
      // An operator's open transaction holds the hottest coupons' rows for 5 s.
      await p.rt.knex().transaction(async (trx) => {
        // The pipeline's 1 s lock wait is for its own flushes; this operator waits for them as long as it takes.
        await trx.raw('SET SESSION innodb_lock_wait_timeout = 60');
        await trx('coupons').whereIn('code', ['DEMO-000001', 'DEMO-000002', 'DEMO-000003']).forUpdate();
        await sleep(5000);
      });
    });
    expect(metrics.get('redeem_retries_total{stage="flush"}')).toBeGreaterThan(0);
  });

  it('the Kafka broker restarted mid-run', async () => {
    // A broker of this test's own: restarting the stack's would strike every other file's topics too.
    const starting = Date.now();
    const kafka = await OwnKafka.start();
    process.stderr.write(`[outage] own broker ${kafka.brokers} answered after ${((Date.now() - starting) / 1000).toFixed(1)} s\n`);
    try {
      const restart = async () => {
        const { stoppedMs, answeredMs } = await kafka.restart();
        process.stderr.write(`[outage] own broker stopped in ${stoppedMs} ms (SIGTERM), answered again ${answeredMs} ms later\n`);
      };
      const { p } = await underLoad({ KAFKA_BROKERS: kafka.brokers }, restart, { redelivery: true });
      // Its topics and group live on the broker about to go: cleaned up now, not after the file.
      pipelines.splice(pipelines.indexOf(p), 1);
      await p.cleanup();
    } finally {
      await kafka.stop();
    }
    // Two broker starts (its first and its restart) beside the outage's load: a JVM start on a busy host
    // takes up to a minute, so the usual 180 s would end the test before its own bounded waits could
    // say which step overran.
  }, 300_000);
});
