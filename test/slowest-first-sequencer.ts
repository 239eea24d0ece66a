/**
 * Starts the integration files that take longest first, so that no long file starts last and keeps the
 * run going alone at the end. Without a cache of earlier runs (a fresh clone, CI) vitest starts larger
 * files first, and a file's size says little about its time: crash-recovery.test.ts, one of the longest,
 * is among the smaller files. The list is the slowest files as `.ci/run` last reported them
 * (test/slowest-files.ts), longest first; files not on it keep vitest's order after them.
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export const SLOWEST_FIRST = [
  'kafka-failover',
  'outages-services',
  'bench-smoke',
  'secure-stack',
  'operations',
  // Not beside the two files that restart Kafka brokers: its kill -9 replacement must decide within 10 s
  // of its start, and a replacement started while their JVMs start took 11.1-11.6 s here (serving after
  // 5.5-6.5 s). Two short files first on the third worker put that test after their restarts.
  'liveness',
  'kafkajs-patch',
  'member-sweep',
  'recovery',
  'outages',
  'chaos',
  'crash-recovery',
  'cli-output',
  'drain',
  'audit-lake',
  'member-liveness',
];

function rank(spec: TestSpecification): number {
  const i = SLOWEST_FIRST.findIndex((name) => spec.moduleId.endsWith(`/${name}.test.ts`));
  return i < 0 ? SLOWEST_FIRST.length : i;
}

export default class SlowestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    // vitest's order keeps projects apart and in their order; within a project, the slow ones go first
    // (Array.prototype.sort is stable, so the rest keep vitest's order).
    const sorted = await super.sort(files);
    const projects = [...new Set(sorted.map((spec) => spec.project))];
    const project = (spec: TestSpecification) => projects.indexOf(spec.project);
    return sorted.sort((a, b) => project(a) - project(b) || rank(a) - rank(b));
  }
}
