import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { kafkaClassArchive, kafkaJavaArgs } from '../../scripts/stack/kafka.js';
import {
  classArchiveRefusal,
  ensureKafkaClassArchive,
  failedRecordingMarker,
  recentRecordingFailure,
  recordingFailed,
  RETRY_RECORDING_AFTER_MS,
} from '../../scripts/stack/kafka-class-archive.js';
import { OwnKafka } from '../../scripts/stack/own-servers.js';

describe("Kafka's class-data archive", () => {
  const scratch = mkdtempSync(join(tmpdir(), 'class-archive-test-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('is in place after `stack up`, accepted by a JVM that requires it, and named in every broker command line', async () => {
    const lines: string[] = [];
    const archive = await ensureKafkaClassArchive((line) => lines.push(line));
    expect(archive, lines.join('\n')).toBe(kafkaClassArchive());
    expect(existsSync(archive!)).toBe(true);
    expect(classArchiveRefusal(archive!)).toBeNull();
    expect(kafkaJavaArgs('x', ['-XX:+UseSerialGC'], 'server.properties')).toContain(`-XX:SharedArchiveFile=${archive}`);
    // The broker that records an archive does not map one.
    expect(
      kafkaJavaArgs('x', [`-XX:ArchiveClassesAtExit=${join(scratch, 'a.jsa')}`], 'server.properties').some((a) => a.startsWith('-XX:SharedArchiveFile=')),
    ).toBe(false);
  });

  it('is refused when damaged or absent, with the reason, and the crash it causes leaves nothing behind', () => {
    const archive = kafkaClassArchive()!;
    const truncated = join(scratch, 'truncated.jsa');
    writeFileSync(truncated, readFileSync(archive).subarray(0, Math.floor(statSync(archive).size / 10)));
    expect(classArchiveRefusal(truncated)).toMatch(/a JVM refused the archive truncated\.jsa \(exit /);
    const zeros = join(scratch, 'zeros.jsa');
    writeFileSync(zeros, Buffer.alloc(4096));
    expect(classArchiveRefusal(zeros)).toMatch(/a JVM refused the archive zeros\.jsa/);
    expect(classArchiveRefusal(join(scratch, 'absent.jsa'))).toMatch(/absent\.jsa was not written/);
    copyFileSync(archive, join(scratch, 'whole.jsa'));
    expect(classArchiveRefusal(join(scratch, 'whole.jsa'))).toBeNull();
    expect(readdirSync(scratch).filter((f) => f.startsWith('hs_err'))).toEqual([]);
    expect(readdirSync(process.cwd()).filter((f) => f.startsWith('hs_err'))).toEqual([]);
  });

  it('after a failed recording, says why and lets brokers start without one for a day instead of recording again at every start', async () => {
    const archive = join(scratch, 'libs.classes-0123456789abcdef.jsa');
    expect(recentRecordingFailure(archive)).toBeNull();
    recordingFailed(archive, 'the broker did not answer within 60 s', new Date('2026-12-06T20:00:00Z'));
    expect(recentRecordingFailure(archive)).toBe('at 2026-12-06T20:00:00.000Z: the broker did not answer within 60 s');
    const lines: string[] = [];
    expect(await ensureKafkaClassArchive((line) => lines.push(line), archive)).toBeNull();
    expect(lines.join('\n')).toMatch(
      /no class-data archive, brokers start without one: recording it failed at 2026-12-06T20:00:00\.000Z: the broker did not answer within 60 s \(tried again a day later, or at the next stack up once .*\.jsa\.failed is removed\)/,
    );
    expect(lines.some((line) => line.includes('recording the classes'))).toBe(false);
    expect(existsSync(archive)).toBe(false);
    // A day on (the marker's age), the next start records again.
    const dayAgo = (Date.now() - RETRY_RECORDING_AFTER_MS - 1000) / 1000;
    utimesSync(failedRecordingMarker(archive), dayAgo, dayAgo);
    expect(recentRecordingFailure(archive)).toBeNull();
  });

  it('is mapped by a broker of its own, which answers', async () => {
    const broker = await OwnKafka.start();
    try {
      expect(readFileSync(`/proc/${broker.pid}/maps`, 'utf8')).toContain(kafkaClassArchive()!);
    } finally {
      await broker.stop();
    }
  });
});
