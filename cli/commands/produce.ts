/**
 * `redeem produce`: a JSON-lines file (checked first, resumable from its checkpoint) or a simulated
 * checkout, sent through the project's client.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  createReadStream,
  createWriteStream,
  fsyncSync,
  lstatSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

import { InputError } from '../../lib/errors.js';
import { withAdmin } from '../../lib/kafka.js';
import type { Runtime } from '../../lib/runtime.js';
import { ensurePipelineTopics } from '../../lib/topics.js';
import { DEFAULT_SIMULATION, simulateCheckout, type SimulationOptions } from '../../producers/checkout-simulator.js';
import { RedemptionProducer } from '../../producers/redemption-producer.js';
import { checkRequestLines, type FileCheck, findBadLines, readRequestFile } from '../../producers/request-file.js';
import { sendStream } from '../../producers/send-stream.js';
import type { RedemptionRequested } from '../../schemas/types.js';
import { Interrupted } from '../failures.js';
import { StopRequest } from '../stop-request.js';

async function connectProducer(rt: Runtime): Promise<RedemptionProducer> {
  await withAdmin(rt.kafka(), (admin) => ensurePipelineTopics(admin, rt.config, rt.logger));
  const codec = await rt.registry().codecFor<RedemptionRequested>('requested', rt.config.redemptionTopic);
  return RedemptionProducer.connect(rt.kafka(), codec, rt.config.redemptionTopic);
}

/** Where `produce --file` records the last line the broker acknowledged, for `--resume`. */
export function checkpointPath(path: string): string {
  return `${path}.produced`;
}

/**
 * Writes the checkpoint atomically and never through a symlink: the number goes to a new file created
 * exclusively (O_EXCL, so not an existing file or link) beside it, which is then renamed over the
 * checkpoint. A rename replaces a symlink itself, never its target, and a crash leaves the old number
 * or the new one, never half a file.
 */
export function writeCheckpoint(checkpoint: string, line: number): void {
  const temp = join(dirname(checkpoint), `.${basename(checkpoint)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    writeSync(fd, `${line}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(temp, checkpoint);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/**
 * The last acknowledged line recorded in the checkpoint, for `--resume`. Anything but a regular file
 * holding one line number is an error: resuming from line 0 by mistake would send the whole file again.
 */
export function readCheckpoint(checkpoint: string): number {
  const fix = 'remove it to start over (without --resume)';
  let stat;
  try {
    stat = lstatSync(checkpoint);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new InputError(
        'INPUT_INVALID',
        `--resume: there is no checkpoint ${checkpoint}, so there is nothing to resume; run without --resume to send the file from line 1`,
      );
    }
    throw new InputError('INPUT_INVALID', `--resume: cannot read the checkpoint ${checkpoint}: ${(error as Error).message}`);
  }
  if (stat.isSymbolicLink()) throw new InputError('INPUT_INVALID', `--resume: the checkpoint ${checkpoint} is a symlink, which is never followed; ${fix}`);
  if (!stat.isFile()) throw new InputError('INPUT_INVALID', `--resume: the checkpoint ${checkpoint} is not a regular file; ${fix}`);
  let text: string;
  try {
    text = readFileSync(checkpoint, 'utf8');
  } catch (error) {
    throw new InputError('INPUT_INVALID', `--resume: cannot read the checkpoint ${checkpoint}: ${(error as Error).message}`);
  }
  if (!/^\d{1,15}\n?$/.test(text)) {
    throw new InputError('INPUT_INVALID', `--resume: the checkpoint ${checkpoint} ${text.trim() === '' ? 'is empty' : 'does not hold a line number'}; ${fix}`);
  }
  return Number(text.trim());
}

/** `--file -`, or a pipe, a terminal or a socket: input that can be read only once. */
function isStream(path: string): boolean {
  // /dev/stdin and /proc/self/fd/N name whatever is open there (even a regular file): read them once,
  // and never put a checkpoint beside them.
  if (path === '-' || /^\/(?:dev|proc)\//.test(path)) return true;
  try {
    return !statSync(path).isFile();
  } catch (error) {
    throw new InputError('INPUT_INVALID', `--file ${path}: ${(error as Error).message}`);
  }
}

function badFileError(name: string, check: FileCheck): InputError {
  const more = check.badCount > check.bad.length ? `\n... and ${check.badCount - check.bad.length} more` : '';
  return new InputError('INPUT_INVALID', `${name}: ${check.badCount} bad line(s), nothing sent:\n${check.bad.join('\n')}${more}`);
}

/**
 * Reads a stream once, validating each line while copying it to a private temporary file (a directory
 * only this user can enter), from which it is then sent: the stream cannot be read a second time.
 */
async function spool(path: string): Promise<{ file: string; check: FileCheck; remove(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'redeem-produce-'));
  chmodSync(dir, 0o700);
  const file = join(dir, 'requests.jsonl');
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    const out = createWriteStream(file, { mode: 0o600, flags: 'wx' });
    const opened = new Promise<void>((resolve, reject) => out.once('open', () => resolve()).once('error', reject));
    await opened;
    const write = (bytes: Buffer) =>
      new Promise<void>((resolve, reject) => {
        if (out.write(bytes)) resolve();
        else out.once('drain', resolve).once('error', reject);
      });
    const input = path === '-' ? process.stdin : createReadStream(path);
    const check = await checkRequestLines(input, { copy: async ({ bytes }) => write(Buffer.concat([bytes, Buffer.from('\n')])) });
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    return { file, check, remove };
  } catch (error) {
    remove();
    throw error;
  }
}

/**
 * Sends a JSON-lines file in file order, one line at a time from disk (constant memory whatever its
 * size). The file is checked first: if any line is bad, every bad line is reported by number and nothing
 * is sent. After every acknowledged batch the last acknowledged line number is written to
 * `<file>.produced`; with `resume`, lines up to it are skipped.
 *
 * `-` (standard input) or a pipe is read once: validated while it is spooled to a private temporary
 * file, then sent from there; it cannot be resumed, so it gets no checkpoint.
 */
export async function produceFile(rt: Runtime, path: string, o: { rate: number | null; progress: boolean; resume: boolean }): Promise<number> {
  const stream = isStream(path);
  const name = path === '-' ? 'standard input' : path;
  if (stream && o.resume)
    throw new InputError('INPUT_INVALID', `--resume needs a regular file: ${name} can be read only once, so there is nothing to resume from`);
  const spooled = stream ? await spool(path) : null;
  try {
    const source = spooled?.file ?? path;
    const checkpoint = stream ? null : checkpointPath(path);
    const after = checkpoint && o.resume ? readCheckpoint(checkpoint) : 0;
    const check = spooled?.check ?? (await findBadLines(path, 50, after));
    if (check.badCount > 0) throw badFileError(name, check);
    if (check.requests === 0) throw new InputError('INPUT_INVALID', `${name}: no requests in it (${check.lines} line(s), all blank); nothing sent`);
    if (after > check.lines) {
      throw new InputError(
        'INPUT_INVALID',
        `--resume: the checkpoint ${checkpoint} says line ${after} was acknowledged, but ${name} has ${check.lines} lines; is it the same file?`,
      );
    }
    if (after > 0) rt.logger.info({ after }, 'resuming after the last acknowledged line');
    // Before anything is sent: from now on a checkpoint exists, so `--resume` never finds none after a
    // run that sent something.
    if (checkpoint && after === 0) {
      try {
        writeCheckpoint(checkpoint, 0);
      } catch (error) {
        throw new InputError(
          'INPUT_INVALID',
          `cannot write the checkpoint ${checkpoint} (${(error as Error).message}); nothing sent. Its folder must be writable, or send the file through a pipe (--file -), which keeps no checkpoint`,
        );
      }
    }
    return await sendLines(rt, { source, name, checkpoint, after, requests: check.requests, alreadySent: check.requestsUpTo }, o);
  } finally {
    spooled?.remove();
  }
}

/** Where a file's sending stopped on Ctrl-C, and how to send the rest. */
function interruptedFile(name: string, checkpoint: string | null, line: number, sent: number): Interrupted {
  const count = `${sent} request(s) sent by this run`;
  return checkpoint
    ? new Interrupted(`interrupted: stopped at line ${line} of ${name}, the last one the broker acknowledged (${count}); rerun with --resume to send the rest`)
    : new Interrupted(
        `interrupted: stopped at line ${line} of ${name}, the last one the broker acknowledged (${count}); ${name} cannot be resumed: send its lines after ${line} again`,
      );
}

async function sendLines(
  rt: Runtime,
  f: { source: string; name: string; checkpoint: string | null; after: number; requests: number; alreadySent: number },
  o: { rate: number | null; progress: boolean },
): Promise<number> {
  const { source, checkpoint, after } = f;
  const stop = new StopRequest(
    checkpoint ? `${checkpoint} holds the last acknowledged line: rerun with --resume` : 'a batch may have been sent unacknowledged',
  );
  const producer = await connectProducer(rt);
  // Line numbers of the requests sent but not yet acknowledged: at most one batch.
  const unacked: number[] = [];
  let acked = 0;
  let lastAcked = after;
  let skipped = 0;
  try {
    async function* good(): AsyncGenerator<RedemptionRequested> {
      for await (const entry of readRequestFile(source)) {
        if (stop.requested) return;
        if (!('request' in entry)) continue;
        if (entry.line <= after) {
          skipped += 1;
          continue;
        }
        unacked.push(entry.line);
        yield entry.request;
      }
    }
    const sent = await sendStream(producer, good(), {
      batchSize: 500,
      rate: o.rate,
      total: f.requests,
      already: f.alreadySent,
      label: 'produce',
      progress: o.progress,
      onAcked: (sent) => {
        const line = unacked.splice(0, sent - acked).pop();
        acked = sent;
        if (line !== undefined) lastAcked = line;
        if (line !== undefined && checkpoint) writeCheckpoint(checkpoint, line);
      },
    });
    if (stop.requested) throw interruptedFile(f.name, checkpoint, lastAcked, sent);
    return sent;
  } finally {
    stop.dispose();
    if (skipped > 0) rt.logger.info({ skipped }, 'skipped lines acknowledged by an earlier run');
    await producer.disconnect();
  }
}

/** The items of `items` until a stop is requested. */
function* until<T>(items: Iterable<T>, stop: StopRequest): Generator<T> {
  for (const item of items) {
    if (stop.requested) return;
    yield item;
  }
}

export async function produceSimulation(
  rt: Runtime,
  simulation: Partial<SimulationOptions> & Pick<SimulationOptions, 'count' | 'couponCodes'>,
  o: { rate: number | null; progress: boolean },
): Promise<number> {
  const stop = new StopRequest('a batch may have been sent unacknowledged');
  const producer = await connectProducer(rt);
  try {
    const requests = until(simulateCheckout({ ...DEFAULT_SIMULATION, ...simulation }), stop);
    const sent = await sendStream(producer, requests, { batchSize: 1000, rate: o.rate, total: simulation.count, label: 'produce', progress: o.progress });
    if (stop.requested) throw new Interrupted(`interrupted: ${sent} of the ${simulation.count} requests sent to ${rt.config.redemptionTopic} (acknowledged)`);
    return sent;
  } finally {
    stop.dispose();
    await producer.disconnect();
  }
}
