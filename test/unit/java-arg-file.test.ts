import { describe, expect, it } from 'vitest';

import { javaArgFileQuote } from '../../scripts/stack/kafka.js';

// The storage tool's arguments (SCRAM passwords among them) go through a java argument file, not the
// command line: each must come back from the launcher exactly as written.
describe('java argument file quoting', () => {
  it('keeps spaces, quotes, backslashes and newlines inside one argument', () => {
    expect(javaArgFileQuote('SCRAM-SHA-512=[name=a,password=x y]')).toBe('"SCRAM-SHA-512=[name=a,password=x y]"');
    expect(javaArgFileQuote('p"w')).toBe('"p\\"w"');
    expect(javaArgFileQuote('C:\\dir')).toBe('"C:\\\\dir"');
    expect(javaArgFileQuote('a\nb')).toBe('"a\\nb"');
  });
});
