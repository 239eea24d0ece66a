/**
 * The test files a vitest command line names (`vitest run --project integration test/integration/x.test.ts`),
 * as opposed to a run of the whole suite: the positional arguments that are paths of test files or of the
 * integration folder. (vitest hands its file filters neither to the config nor to a global setup.)
 */
export function namedTestFiles(argv: readonly string[] = process.argv.slice(2)): string[] {
  return argv.filter(
    (arg, i) =>
      !arg.startsWith('-') &&
      !/^--(exclude|project|reporter|outputFile|config|root|dir)$/.test(argv[i - 1] ?? '') &&
      /(^|\/)test\/integration(\/|$)|\.test\.ts$/.test(arg),
  );
}

/**
 * The `--exclude` patterns of the command line. vitest applies them to the root config only, not to inline
 * projects such as ours, so the config adds them to each project: `--exclude '**\/outages.test.ts'` works.
 */
export function excludedOnCommandLine(argv: readonly string[] = process.argv.slice(2)): string[] {
  return argv.flatMap((arg, i) => (arg === '--exclude' && argv[i + 1] ? [argv[i + 1]!] : arg.startsWith('--exclude=') ? [arg.slice('--exclude='.length)] : []));
}
