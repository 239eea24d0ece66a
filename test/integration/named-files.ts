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
