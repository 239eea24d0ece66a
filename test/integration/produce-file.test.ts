import { spawn } from 'node:child_process';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { checkpointPath } from '../../cli/commands/produce.js';
import { couponCodes } from '../../lib/coupon-catalog.js';
import { DEFAULT_SIMULATION, simulateCheckout } from '../../producers/checkout-simulator.js';
import { writeTemp } from './fixtures.js';
import { type CliResult, IsolatedPipeline, REDEEM } from './helpers.js';

/** `sh -c '<shell>'` with the pipeline's environment: for `cat file | redeem ...`, as an operator types it. */
function shell(command: string, env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { env: { ...process.env, ...env, REDEEM: `${process.execPath} ${REDEEM}` }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('produce --file: pipes, checkpoints and encodings', () => {
  const p = new IsolatedPipeline();
  beforeAll(() => p.setUp());
  afterAll(() => p.cleanup());

  const onTopic = async () => [...(await p.endOffsets(p.config.redemptionTopic)).values()].reduce((a, b) => a + b, 0);
  const lines = (n: number, seed: number) =>
    [...simulateCheckout({ ...DEFAULT_SIMULATION, count: n, couponCodes: couponCodes('PIPE', 10), seed })].map((r) =>
      JSON.stringify({ ...r, occurred_at: r.occurred_at.toISOString() }),
    );

  it('sends a pipe (/dev/stdin or -) once, validated while spooled, and says how many', async () => {
    const file = writeTemp(`${lines(700, 1).join('\n')}\n`, 'piped.jsonl');
    const viaDevStdin = await shell(`cat "${file}" | $REDEEM produce --file /dev/stdin --no-progress`, p.env);
    expect(viaDevStdin.code, viaDevStdin.stderr).toBe(0);
    expect(viaDevStdin.stdout).toContain('produced 700 requests');
    expect(await onTopic()).toBe(700);
    const viaDash = await shell(`cat "${file}" | $REDEEM produce --file - --no-progress`, p.env);
    expect(viaDash.code, viaDash.stderr).toBe(0);
    expect(viaDash.stdout).toContain('produced 700 requests');
    expect(await onTopic()).toBe(1400);
  });

  it('a piped file with a bad line, an empty pipe, or --resume on a pipe sends nothing and fails', async () => {
    const bad = writeTemp(`${lines(5, 2).join('\n')}\n{oops\n`, 'piped-bad.jsonl');
    const badPipe = await shell(`cat "${bad}" | $REDEEM produce --file - --no-progress`, p.env);
    expect(badPipe.code).toBe(1);
    expect(badPipe.stderr).toContain('standard input: 1 bad line(s), nothing sent');
    expect(badPipe.stderr).toContain('line 6: not JSON');
    const empty = await shell(`printf '\\n\\n' | $REDEEM produce --file /dev/stdin --no-progress`, p.env);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('no requests in it (2 line(s), all blank); nothing sent');
    const resume = await shell(`cat "${bad}" | $REDEEM produce --file - --resume --no-progress`, p.env);
    expect(resume.code).toBe(1);
    expect(resume.stderr).toContain('--resume needs a regular file');
    expect(await onTopic()).toBe(1400);
  });

  it('a file that is not UTF-8 is refused, naming the line', async () => {
    const text = lines(3, 3);
    const file = writeTemp('', 'latin1.jsonl');
    writeFileSync(
      file,
      Buffer.concat([
        Buffer.from(`${text[0]}\n`),
        Buffer.from(text[1]!.replace('"source":"', '"source":"caf'), 'utf8'),
        Buffer.from([0xe9]),
        Buffer.from(`\n${text[2]}\n`),
      ]),
    );
    const result = await p.cli(['produce', '--file', file, '--no-progress']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/line 2: not valid UTF-8 \(byte \d+ of the line, 0xe9\)/);
    expect(await onTopic()).toBe(1400);
  });

  it('never writes through a symlink at <file>.produced, and --resume refuses an empty checkpoint', async () => {
    const file = writeTemp(`${lines(50, 4).join('\n')}\n`, 'linked.jsonl');
    const victim = writeTemp('precious\n', 'victim');
    symlinkSync(victim, checkpointPath(file));
    const result = await p.cli(['produce', '--file', file, '--no-progress']);
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(readFileSync(checkpointPath(file), 'utf8')).toBe('50\n');
    expect(await onTopic()).toBe(1450);

    writeFileSync(checkpointPath(file), '');
    const resumed = await p.cli(['produce', '--file', file, '--resume', '--no-progress']);
    expect(resumed.code).toBe(1);
    expect(resumed.stderr).toContain('is empty; remove it to start over');
    const never = writeTemp(`${lines(5, 5).join('\n')}\n`, 'never.jsonl');
    const noCheckpoint = await p.cli(['produce', '--file', never, '--resume', '--no-progress']);
    expect(noCheckpoint.code).toBe(1);
    expect(noCheckpoint.stderr).toContain('nothing to resume');
    expect(await onTopic()).toBe(1450);
  });
});
