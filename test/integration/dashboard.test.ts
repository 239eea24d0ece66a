import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BackgroundConsumer, freePort, IsolatedPipeline, REDEEM, waitUntil } from './helpers.js';

/** Debian's chromium (.ci/run installs it); set CHROMIUM_PATH for another. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const REQUESTS = 6000;

/** `redeem dashboard` in the background; resolves with its URL once it serves. */
function startDashboard(env: Record<string, string>, args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [REDEEM, 'dashboard', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const url = /dashboard on (\S+)/.exec(out)?.[1];
      if (url) resolve({ child, url });
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => reject(new Error(`redeem dashboard exited ${code}: ${err}`)));
  });
}

const figure = async (page: Page, id: string) => Number(((await page.textContent(`#${id}`)) ?? '').replaceAll(',', ''));

describe('redeem dashboard: the live page in headless Chromium moves with the pipeline and agrees with status', () => {
  const p = new IsolatedPipeline();
  let consumer: BackgroundConsumer;
  let dashboard: { child: ChildProcess; url: string };
  let browser: Browser;

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM}: apt-get install -y chromium (.ci/run does)`).toBe(true);
    await p.setUp();
    expect((await p.cli(['coupons', 'generate', '--count', '50', '--prefix', 'DSH', '--quota', '60'])).code).toBe(0);
    const metricsPort = await freePort();
    consumer = new BackgroundConsumer({ ...p.env, METRICS_PORT: String(metricsPort) });
    dashboard = await startDashboard(p.env, ['--port', '0', '--metrics', `http://127.0.0.1:${metricsPort}`, '--interval', '500ms']);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  });
  afterAll(async () => {
    await browser?.close();
    dashboard?.child.kill('SIGTERM');
    await consumer?.stop();
    await p.cleanup();
  });

  it('loads offline-capable (Chart.js from the dashboard), shows figures that move while requests flow, then match status', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const external: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(dashboard.url)) external.push(r.url());
    });
    await page.goto(dashboard.url);
    await page.waitForFunction(() => document.getElementById('members-count')?.textContent === '1', undefined, { timeout: 60_000 });
    expect(await page.evaluate(() => typeof (window as unknown as { Chart?: unknown }).Chart)).toBe('function');

    const produce = p.cli(['produce', '--generate', String(REQUESTS), '--coupons', '50', '--coupon-prefix', 'DSH', '--rate', '1000', '--no-progress']);
    const seen: number[] = [];
    // The rate as the page showed it while the total rose: read afterwards, it may already be 0 on a busy
    // host, where the load can be over before the page's next update.
    let highestRate = 0;
    await waitUntil(
      'the page to show decisions rising, twice',
      async () => {
        const total = await figure(page, 'decisions-total');
        if (seen.at(-1) !== total) seen.push(total);
        highestRate = Math.max(highestRate, await figure(page, 'decisions-rate'));
        return seen.filter((n) => n > 0).length >= 3;
      },
      60_000,
    );
    expect(highestRate).toBeGreaterThan(0);
    expect((await produce).code).toBe(0);

    await page.waitForFunction((n) => document.getElementById('decisions-total')?.textContent?.replaceAll(',', '') === String(n), REQUESTS, {
      timeout: 60_000,
    });
    await page.waitForFunction(() => document.getElementById('total-lag')?.textContent === '0', undefined, { timeout: 60_000 });
    const status = await p.cli(['status']);
    expect(status.code, status.stderr).toBe(0);
    expect(Number(/total lag (\d+)/.exec(status.stdout)?.[1])).toBe(await figure(page, 'total-lag'));
    expect(Number(/(\d+) member\(s\)/.exec(status.stdout)?.[1])).toBe(await figure(page, 'members-count'));
    expect(await page.locator('#members tr').count()).toBe(1);
    expect(await page.locator('#lag-table tr').count()).toBe(3);
    expect(external).toEqual([]);

    const shot = process.env.DASHBOARD_SCREENSHOT ?? join(mkdtempSync(join(tmpdir(), 'dashboard-')), 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(existsSync(shot)).toBe(true);
  });
});
