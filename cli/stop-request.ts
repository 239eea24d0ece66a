/**
 * Ctrl-C (SIGINT) or SIGTERM during a long command: the first asks the command to stop at its next safe
 * point (the batch in flight acknowledged), so that it can say where it stopped and how to go on; a
 * second ends the process at once.
 */
export class StopRequest {
  private signal: NodeJS.Signals | null = null;
  private resolveStopped!: () => void;
  /** Settles on the first signal: for work that waits rather than loops. */
  readonly stopped = new Promise<void>((resolve) => (this.resolveStopped = resolve));

  private readonly onSignal = (signal: NodeJS.Signals) => {
    if (this.signal !== null) {
      process.stderr.write(`\nredeem: ${signal} again: quitting at once, ${this.atOnce}\n`);
      process.exit(130);
    }
    this.signal = signal;
    this.resolveStopped();
    process.stderr.write(`\nredeem: stopping after the batch in flight (${signal === 'SIGINT' ? 'Ctrl-C' : signal} again to quit at once)\n`);
  };

  /** `atOnce`: what a second signal leaves behind, e.g. "the checkpoint holds the last acknowledged line". */
  constructor(private readonly atOnce: string) {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  get requested(): boolean {
    return this.signal !== null;
  }

  dispose(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }
}
