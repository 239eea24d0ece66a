/**
 * JSON-lines request files read line by line in constant memory: each line's request or every problem of
 * it, non-UTF-8 bytes reported by line number, and a first pass that finds every bad line before anything
 * is sent.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';

import { requestFromJson } from '../schemas/request-validation.js';
import type { RedemptionRequested } from '../schemas/types.js';

export type RequestLine = { line: number; request: RedemptionRequested } | { line: number; problems: string[] };

/** One line of input as bytes (without its line ending), and its number. */
export interface RawLine {
  line: number;
  bytes: Buffer;
}

/**
 * Splits a byte stream into lines without decoding it: decoding is done per line, strictly, so that a
 * byte sequence that is not UTF-8 is reported with its line number instead of silently becoming U+FFFD
 * (which is what a text stream or readline would do).
 */
export async function* readRawLines(input: Readable): AsyncGenerator<RawLine> {
  let line = 0;
  let pending: Buffer[] = [];
  for await (const chunk of input as AsyncIterable<Buffer>) {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a, start); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      pending.push(chunk.subarray(start, nl));
      line += 1;
      yield { line, bytes: stripCr(Buffer.concat(pending)) };
      pending = [];
      start = nl + 1;
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  }
  const rest = Buffer.concat(pending);
  if (rest.length > 0) yield { line: line + 1, bytes: stripCr(rest) };
}

function stripCr(bytes: Buffer): Buffer {
  return bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.subarray(0, -1) : bytes;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** A line's request or its problems; null for a blank line. */
export function parseRequestLine({ line, bytes }: RawLine): RequestLine | null {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    return { line, problems: [`not valid UTF-8 (byte ${at + 1} of the line, 0x${bytes[at]!.toString(16).padStart(2, '0')})`] };
  }
  if (text.trim() === '') return null;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { line, problems: [`not JSON: ${(error as Error).message}`] };
  }
  const parsed = requestFromJson(json);
  return 'request' in parsed ? { line, request: parsed.request } : { line, problems: parsed.problems };
}

const lossy = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * Where the first byte sequence that is not UTF-8 starts, to point the user at it: the lossy decoding
 * matches the bytes exactly up to its first replacement character that the input did not spell as one.
 */
function firstInvalidUtf8(bytes: Buffer): number {
  const text = lossy.decode(bytes);
  for (let i = text.indexOf('\uFFFD'); i !== -1; i = text.indexOf('\uFFFD', i + 1)) {
    const at = Buffer.byteLength(text.slice(0, i));
    if (!(bytes[at] === 0xef && bytes[at + 1] === 0xbf && bytes[at + 2] === 0xbd)) return at;
  }
  return 0;
}

/**
 * Reads a JSON-lines file of requests one line at a time, so memory stays constant whatever its size.
 * Blank lines are skipped; every other line yields its request or its problems.
 */
export async function* readRequestFile(path: string): AsyncGenerator<RequestLine> {
  for await (const raw of readRawLines(createReadStream(path))) {
    const entry = parseRequestLine(raw);
    if (entry) yield entry;
  }
}

export interface FileCheck {
  /** The first bad lines, described. */
  bad: string[];
  badCount: number;
  requests: number;
  /** The number of the file's last line (blank lines included). */
  lines: number;
  /** Requests on the lines up to `upTo` (those an earlier run sent, when resuming). */
  requestsUpTo: number;
}

/**
 * Every bad line of the input, by number (a first pass, so that a bad file sends nothing). With `copy`,
 * each line's bytes are also handed over as they are read: a pipe can be read only once, so it is
 * validated while it is spooled to a file, and sent from that file.
 */
export async function checkRequestLines(
  input: Readable,
  o: { limit?: number; upTo?: number; copy?: (raw: RawLine) => Promise<void> | void } = {},
): Promise<FileCheck> {
  const limit = o.limit ?? 50;
  let requestsUpTo = 0;
  const bad: string[] = [];
  let badCount = 0;
  let requests = 0;
  let lines = 0;
  for await (const raw of readRawLines(input)) {
    lines = raw.line;
    await o.copy?.(raw);
    const entry = parseRequestLine(raw);
    if (!entry) continue;
    if ('request' in entry) {
      requests += 1;
      if (raw.line <= (o.upTo ?? 0)) requestsUpTo += 1;
    } else {
      badCount += 1;
      if (bad.length < limit) bad.push(`line ${entry.line}: ${entry.problems.join('; ')}`);
    }
  }
  return { bad, badCount, requests, lines, requestsUpTo };
}

export function findBadLines(path: string, limit = 50, upTo = 0): Promise<FileCheck> {
  return checkRequestLines(createReadStream(path), { limit, upTo });
}
