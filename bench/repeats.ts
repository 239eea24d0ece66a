/**
 * Names that stay apart when they repeat: the first of each name as it is, every later one with
 * `mark(n)` appended (n = 2, 3, ... in order). A bench result's runs are named by what they offer
 * (`lat9000`, `offered=9000`), and two runs may offer the same.
 */
export function numberRepeats(names: readonly string[], mark: (n: number) => string): string[] {
  const seen = new Map<string, number>();
  return names.map((name) => {
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    return n === 1 ? name : `${name}${mark(n)}`;
  });
}
