/**
 * A Redis command that writes itself into one Buffer. ioredis writes a command as a string built one
 * argument at a time ("$" + length + "\r\n" + argument + "\r\n", four string pieces an argument) and a
 * pipeline joins those strings before the socket encodes the whole: for the flush's lookup and update,
 * a few keys and values per request, that text was 9% of what a consumer allocated (and so of its
 * garbage collection). Here the bytes are counted, one Buffer is taken outside the JavaScript heap,
 * and every argument is written into it once; the bytes on the wire are the same (RESP arrays of bulk
 * strings). Everything else, its keys, slot, redirections and errors, is ioredis's own Command, and
 * its replies are strings as those of ioredis's string commands are (`replyEncoding: 'utf8'`; without
 * it a bulk reply stays a Buffer). ioredis's `keyPrefix` option is not applied: the project writes its
 * keys' prefixes itself and sets none (lib/redis.ts).
 */
import { type ChainableCommander, Command } from 'ioredis';

type Argument = string | Buffer | number;

const CRLF = 0x0a0d; // "\r\n" as a little-endian uint16

export class PackedCommand extends Command {
  constructor(name: string, args: Argument[], options: ConstructorParameters<typeof Command>[2] = {}) {
    // Command's constructor flattens its arguments with Array.prototype.flat (68 us for the 600 of a
    // 140-request update, 1% of a consumer's CPU at 50% of drain): they come flat, so it is given none
    // and they are set after. Numbers stay numbers (respOf writes them; Command would have made strings).
    super(name, [], options);
    this.args = args;
  }

  override toWritable(): Buffer {
    // Each argument is a string, a number or a Buffer (the declared type allows the nested arrays
    // Command's own constructor would flatten).
    return respOf(this.name, this.args as Argument[]);
  }
}

/**
 * Queues `name args` on a pipeline as a PackedCommand; its result comes in the pipeline's results like
 * any other command's. (The pipeline is ioredis's Pipeline, whose `sendCommand` the ChainableCommander
 * type does not declare.)
 */
export function queuePacked(pipeline: ChainableCommander, name: string, args: Argument[]): void {
  // The command keeps `args` as given: the caller hands it over and does not change it afterwards.
  (pipeline as unknown as { sendCommand(command: Command): unknown }).sendCommand(new PackedCommand(name, args, { replyEncoding: 'utf8' }));
}

/** The RESP array of bulk strings for `name` and `args`: what ioredis's Command writes, as one Buffer. */
export function respOf(name: string, args: readonly Argument[]): Buffer {
  // Each argument's length in bytes, counted once: the size needs them, and so does each bulk's header.
  const lengths = args.map((arg) => byteLength(arg));
  const nameLength = Buffer.byteLength(name);
  let size = 1 + digits(args.length + 1) + 2 + bulkSize(nameLength);
  for (const length of lengths) size += bulkSize(length);
  const out = Buffer.allocUnsafe(size);
  let at = out.write('*', 0, 'latin1');
  at = writeDigits(out, at, args.length + 1);
  at = out.writeUInt16LE(CRLF, at);
  at = writeBulk(out, at, name, nameLength);
  args.forEach((arg, i) => (at = writeBulk(out, at, arg, lengths[i]!)));
  if (at !== size) throw new Error(`RESP size mismatch: wrote ${at} of ${size} bytes`);
  return out;
}

function byteLength(arg: Argument): number {
  if (typeof arg === 'string') return Buffer.byteLength(arg, 'utf8');
  if (typeof arg === 'number') return Buffer.byteLength(String(arg), 'latin1');
  return arg.length;
}

/** "$" length "\r\n" bytes "\r\n" */
function bulkSize(length: number): number {
  return 1 + digits(length) + 2 + length + 2;
}

/** "$" length "\r\n" bytes "\r\n", `length` being the argument's byte length. */
function writeBulk(out: Buffer, at: number, arg: Argument, length: number): number {
  out[at++] = 0x24; // "$"
  at = writeDigits(out, at, length);
  at = out.writeUInt16LE(CRLF, at);
  if (typeof arg === 'string') at += out.write(arg, at, 'utf8');
  else if (typeof arg === 'number') at += out.write(String(arg), at, 'latin1');
  else at += arg.copy(out, at);
  return out.writeUInt16LE(CRLF, at);
}

function digits(n: number): number {
  let count = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    count += 1;
  }
  return count;
}

/** A non-negative whole number's decimal digits, without making a string of it. */
function writeDigits(out: Buffer, at: number, n: number): number {
  const end = at + digits(n);
  for (let i = end - 1; i >= at; i--) {
    out[i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
  return end;
}
