import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A progress line on stderr for long work: done/total, rate and ETA. On a terminal it redraws in place;
 * otherwise (CI, a log file) it prints a line every few seconds. `already`: work an earlier run did (a
 * resumed backfill), counted in done/total but not in this run's rate and ETA.
 */
export class ProgressBar {
  private readonly started = Date.now();
  private lastDraw = 0;
  private readonly tty = process.stderr.isTTY === true;

  constructor(
    private readonly label: string,
    private readonly total: number | null,
    private readonly enabled = true,
    private readonly already = 0,
  ) {}

  update(done: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < (this.tty ? 100 : 5000)) return;
    this.lastDraw = now;
    this.draw(done, now);
  }

  finish(done: number): void {
    if (!this.enabled) return;
    this.draw(done, Date.now());
    if (this.tty) process.stderr.write('\n');
  }

  private draw(done: number, now: number): void {
    const seconds = Math.max((now - this.started) / 1000, 0.001);
    const rate = done / seconds;
    const shown = this.already + done;
    let line = `${this.label} ${shown.toLocaleString('en-US')}`;
    if (this.total !== null && this.total > 0) {
      const share = Math.min(shown / this.total, 1);
      const width = 24;
      const filled = Math.round(share * width);
      const eta = rate > 0 ? Math.max(0, (this.total - shown) / rate) : 0;
      line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${shown.toLocaleString('en-US')}/${this.total.toLocaleString('en-US')} ${(share * 100).toFixed(0)}%  ETA ${eta.toFixed(0)}s`;
    }
    line += `  ${rate.toFixed(0)}/s`;
    process.stderr.write(this.tty ? `\r${line}\u001b[K` : `${line}\n`);
  }
}

/** Paces a loop at `perSecond` items on average; a no-op when no rate is set. */
export class RateLimiter {
  private readonly started = Date.now();

  constructor(private readonly perSecond: number | null) {}

  async wait(done: number): Promise<void> {
    if (!this.perSecond) return;
    const due = this.started + (done / this.perSecond) * 1000;
    const delay = due - Date.now();
    if (delay > 1) await sleep(delay);
  }
}
