import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { requestFromJson } from '../schemas/request-validation.js';
import type { RedemptionRequested } from '../schemas/types.js';

export type RequestLine = { line: number; request: RedemptionRequested } | { line: number; problems: string[] };

/**
 * Reads a JSON-lines file of requests one line at a time, so memory stays constant whatever its size.
 * Blank lines are skipped; every other line yields its request or its problems.
 */
export async function* readRequestFile(path: string): AsyncGenerator<RequestLine> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line += 1;
    if (text.trim() === '') continue;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      yield { line, problems: [`not JSON: ${(error as Error).message}`] };
      continue;
    }
    const parsed = requestFromJson(json);
    yield 'request' in parsed ? { line, request: parsed.request } : { line, problems: parsed.problems };
  }
}

/** Every bad line of the file, by number (a first pass, so that a bad file sends nothing). */
export async function findBadLines(path: string, limit = 50): Promise<{ bad: string[]; badCount: number; requests: number }> {
  const bad: string[] = [];
  let badCount = 0;
  let requests = 0;
  for await (const entry of readRequestFile(path)) {
    if ('request' in entry) requests += 1;
    else {
      badCount += 1;
      if (bad.length < limit) bad.push(`line ${entry.line}: ${entry.problems.join('; ')}`);
    }
  }
  return { bad, badCount, requests };
}
