import { relative } from 'node:path';

import type { Reporter, TestModule } from 'vitest/node';

/**
 * A reporter for the end of a run (.ci/run): the ten slowest test files with their durations, and how
 * long each project's files took in all, so a rise in the suite's time shows where it happened.
 * `vitest run --reporter=default --reporter=./test/slowest-files.ts`.
 */
export default class SlowestFiles implements Reporter {
  private readonly runStart = Date.now();
  /** Per project, when its first file started and its last ended (ms): the run's critical path by phase. */
  private readonly spans = new Map<string, { first: number; last: number }>();

  private readonly started = new Map<string, number>();

  onTestModuleStart(module: TestModule): void {
    this.started.set(module.moduleId, Date.now());
    const span = this.spans.get(module.project.name);
    if (span) span.first = Math.min(span.first, Date.now());
    else this.spans.set(module.project.name, { first: Date.now(), last: Date.now() });
  }

  onTestModuleEnd(module: TestModule): void {
    const span = this.spans.get(module.project.name);
    if (span) span.last = Math.max(span.last, Date.now());
  }

  onTestRunEnd(modules: readonly TestModule[]): void {
    const files = modules.map((m) => {
      const d = m.diagnostic();
      const start = this.started.get(m.moduleId);
      return {
        project: m.project.name,
        file: relative(process.cwd(), m.moduleId),
        seconds: (d.collectDuration + d.duration) / 1000,
        state: m.state(),
        from: start === undefined ? '' : `, from ${this.at(start)} s`,
      };
    });
    const byProject = new Map<string, number>();
    for (const f of files) byProject.set(f.project, (byProject.get(f.project) ?? 0) + f.seconds);
    const lines = [
      '',
      `slowest test files (of ${files.length}; seconds each, files of a project may run at once):`,
      ...files
        .sort((a, b) => b.seconds - a.seconds)
        .slice(0, 10)
        .map((f) => `  ${f.seconds.toFixed(1).padStart(6)}  ${f.file} (${f.project}${f.from}${f.state === 'passed' ? '' : `, ${f.state}`})`),
      `sum per project: ${[...byProject].map(([name, s]) => `${name} ${s.toFixed(0)} s`).join(', ')}`,
      `wall clock per project (s after the run's start): ${[...this.spans].map(([name, { first, last }]) => `${name} ${this.at(first)}-${this.at(last)}`).join(', ')}`,
      '',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }

  private at(ms: number): string {
    return ((ms - this.runStart) / 1000).toFixed(0);
  }
}
