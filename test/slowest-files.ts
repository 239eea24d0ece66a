import { relative } from 'node:path';

import type { Reporter, TestModule } from 'vitest/node';

/**
 * A reporter for the end of a run (.ci/run): the ten slowest test files with their durations, and how
 * long each project's files took in all, so a rise in the suite's time shows where it happened.
 * `vitest run --reporter=default --reporter=./test/slowest-files.ts`.
 */
export default class SlowestFiles implements Reporter {
  onTestRunEnd(modules: readonly TestModule[]): void {
    const files = modules.map((m) => {
      const d = m.diagnostic();
      return { project: m.project.name, file: relative(process.cwd(), m.moduleId), seconds: (d.collectDuration + d.duration) / 1000, state: m.state() };
    });
    const byProject = new Map<string, number>();
    for (const f of files) byProject.set(f.project, (byProject.get(f.project) ?? 0) + f.seconds);
    const lines = [
      '',
      `slowest test files (of ${files.length}; seconds each, files of a project may run at once):`,
      ...files
        .sort((a, b) => b.seconds - a.seconds)
        .slice(0, 10)
        .map((f) => `  ${f.seconds.toFixed(1).padStart(6)}  ${f.file} (${f.project}${f.state === 'passed' ? '' : `, ${f.state}`})`),
      `sum per project: ${[...byProject].map(([name, s]) => `${name} ${s.toFixed(0)} s`).join(', ')}`,
      '',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}
