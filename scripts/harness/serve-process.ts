/**
 * A `redeem serve` child process on a free loopback port, as an operator runs it: the benchmark's HTTP
 * entry under load. Started with the environment of the namespace it serves; `stop()` is SIGTERM (it
 * finishes the requests in hand).
 */
import { type ChildProcess, spawn } from 'node:child_process';

import { DEFAULT_ENTRY } from './consumer-process.js';
import { tracked } from './live-children.js';

/** Long enough for it to connect to Kafka, the registry and MySQL and start its audit reader on a busy host. */
const LISTEN_DEADLINE_MS = 60_000;

export class ServeProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  private constructor(env: NodeJS.ProcessEnv, args: readonly string[]) {
    this.child = tracked(
      spawn(process.execPath, [DEFAULT_ENTRY, 'serve', '--host', '127.0.0.1', '--port', '0', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    this.child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  /** Starts it and resolves with it once it listens (its base URL in `url`); fails naming what it said. */
  static async start(env: NodeJS.ProcessEnv, args: readonly string[] = []): Promise<ServeProcess & { url: string }> {
    const p = new ServeProcess(env, args);
    const deadline = Date.now() + LISTEN_DEADLINE_MS;
    let exited = false;
    void p.exited.then(() => (exited = true));
    for (;;) {
      const url = /serving (http:\/\/\S+?) /.exec(p.stdout)?.[1];
      if (url) return Object.assign(p, { url });
      if (exited || Date.now() > deadline) {
        p.child.kill('SIGKILL');
        throw new Error(
          `redeem serve did not listen${exited ? ' (it exited)' : ` within ${LISTEN_DEADLINE_MS / 1000} s`}: ${p.stderr.slice(-600) || '(nothing on stderr)'}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** SIGTERM: it finishes the requests in hand, disconnects and exits; killed if it has not after 30 s. */
  async stop(): Promise<number | null> {
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
