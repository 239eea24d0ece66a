import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { selectDeadLetters, type RedriveSummary } from '../../cli/commands/dlq.js';

const TOPIC = 'redemption.requested';

function letter(partition: number, offset: number, o: { code?: string; at?: number; topic?: string; truncated?: boolean; dlqOffset?: number } = {}): KafkaMessage {
  const headers: Record<string, string> = { 'dlq.code': o.code ?? 'WRONG_PARTITION', 'dlq.reason': 'r', 'dlq.topic': o.topic ?? TOPIC, 'dlq.partition': String(partition), 'dlq.offset': String(offset), 'dlq.consumer': 'c' };
  if (o.truncated) headers['dlq.truncated'] = 'true';
  return { key: Buffer.from('K'), value: Buffer.from('v'), timestamp: String(o.at ?? 1000), attributes: 0, offset: String(o.dlqOffset ?? 0), headers };
}

const emptySummary = (): Pick<RedriveSummary, 'selected' | 'repeats' | 'alreadyRedriven' | 'redrivenCopies' | 'refused'> => ({ selected: 0, repeats: 0, alreadyRedriven: 0, redrivenCopies: 0, refused: new Map() });

describe('choosing the dead letters a redrive sends', () => {
  it('takes each origin once: a message dead-lettered twice (a crash before the offset commit) is sent once', () => {
    const summary = emptySummary();
    const chosen = selectDeadLetters([letter(1, 5), letter(1, 5), letter(2, 7)], TOPIC, [], {}, summary);
    expect(chosen.map((c) => `${c.sourcePartition}/${c.sourceOffset}`)).toEqual(['1/5', '2/7']);
    expect(summary).toMatchObject({ selected: 3, repeats: 1 });
  });

  it('never sends an origin a redrive already sent, nor a copy a redrive sent that was dead-lettered again', () => {
    const summary = emptySummary();
    // 1/5 was redriven to 0/40; 0/40 was then dead-lettered itself.
    const chosen = selectDeadLetters([letter(1, 5), letter(0, 40), letter(2, 7)], TOPIC, [{ sourcePartition: 1, sourceOffset: 5, targetPartition: 0, targetOffset: 40 }], {}, summary);
    expect(chosen.map((c) => `${c.sourcePartition}/${c.sourceOffset}`)).toEqual(['2/7']);
    expect(summary).toMatchObject({ alreadyRedriven: 1, redrivenCopies: 1 });
  });

  it('applies --code and --since, and refuses a dead letter without a usable origin', () => {
    const summary = emptySummary();
    const letters = [letter(0, 1, { code: 'REQUEST_INVALID' }), letter(0, 2, { at: 500 }), letter(0, 3, { at: 2000 }), letter(0, 4, { topic: 'other', at: 2000 })];
    const chosen = selectDeadLetters(letters, TOPIC, [], { code: 'WRONG_PARTITION', since: new Date(1000) }, summary);
    expect(chosen.map((c) => c.sourceOffset)).toEqual([3]);
    expect(summary.selected).toBe(2);
    expect(summary.refused).toEqual(new Map([['WRONG_PARTITION', 1]]));
  });

  it('marks a truncated copy, to be sent from its original', () => {
    const [chosen] = selectDeadLetters([letter(0, 9, { truncated: true })], TOPIC, [], {}, emptySummary());
    expect(chosen!.truncated).toBe(true);
  });
});
