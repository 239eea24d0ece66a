/**
 * Where the slowest answers' time went. Each answered request's time splits at the two Kafka stamps it
 * left: its request's CreateTime and its audit record's. Before the first: the send (the client's queue
 * and the produce; over HTTP, the request's way in too). Between them: the pipeline (the consumer's
 * stages). After the second: the answer (the audit reader's fetch; over HTTP, the response too). Pure:
 * no I/O.
 */
import type { ConsumerSummary } from './consumer-summary.js';

export const SEGMENTS = ['send', 'pipeline', 'answer'] as const;
export type Segment = (typeof SEGMENTS)[number];
export type Timed = Record<Segment, number>;

const WHAT: Record<Segment, string> = {
  send: "the send (the call to the request's CreateTime: the client's queue and the produce)",
  pipeline: 'the pipeline',
  answer: "the answer (the audit record's CreateTime to the answer: the audit reader's fetch and the reply)",
};

/** Mean ms of each segment over the slowest (100 - p)% of the requests (at least one). */
export function slowestSegments(timed: readonly Timed[], p = 99): Timed & { requests: number } {
  const total = (t: Timed) => t.send + t.pipeline + t.answer;
  const slow = [...timed].sort((x, y) => total(y) - total(x)).slice(0, Math.max(1, Math.ceil((timed.length * (100 - p)) / 100)));
  const mean = (s: Segment) => (slow.length === 0 ? 0 : Math.round((slow.reduce((sum, t) => sum + t[s], 0) / slow.length) * 10) / 10);
  return { requests: slow.length, send: mean('send'), pipeline: mean('pipeline'), answer: mean('answer') };
}

/** The consumer's stages on a request's way (the offset commit comes after its answer). */
const ON_THE_WAY = ['kafka', 'decode', 'queued', 'redis', 'mysql', 'audit'] as const;

/**
 * What holds the slowest answers: the segment with the largest share of their time; in the pipeline,
 * the consumer's stage with the largest p99 by its own histograms.
 */
export function heldBy(slowest: Timed, stages: ConsumerSummary['stages']): string {
  const segment = SEGMENTS.reduce((a, b) => (slowest[b] > slowest[a] ? b : a));
  const share = `${slowest[segment]} ms of the slowest 1%'s ${Math.round(slowest.send + slowest.pipeline + slowest.answer)} ms`;
  if (segment !== 'pipeline') return `${WHAT[segment]}: ${share}`;
  const stage = ON_THE_WAY.filter((s) => stages[s]).reduce<(typeof ON_THE_WAY)[number] | null>(
    (a, b) => (a === null || stages[b]!.p99 > stages[a]!.p99 ? b : a),
    null,
  );
  if (stage === null) return `${WHAT.pipeline}: ${share} (the consumer reported no stages)`;
  const s = stages[stage]!;
  return `${WHAT.pipeline}, its ${stage} stage (p99 ${s.p99} ms, mean ${s.mean} ms by the consumer's histograms): ${share}`;
}
