/**
 * The mutants of `npm run test:mutants`: small deliberate faults, each named after the guarantee it
 * breaks, and the tests that must catch it.
 *
 * A source mutant is found by its marker, a comment `mutant: <name>` (`//` in TypeScript, `--` in the
 * Lua of the decision cache) on the line above the code it changes. Its edits are plain search/replace
 * pairs applied within the WINDOW lines after the marker. Whoever rewrites that code keeps the marker at
 * the same behaviour and updates the edits here: the runner fails loudly when a marker is missing or
 * doubled, an edit no longer applies, or a marker names no mutant.
 *
 * The KafkaJS mutant has no marker in our source: it reverts a file's hunks of patches/kafkajs+2.2.4.patch
 * in a copy of node_modules/kafkajs (the runner never touches the real node_modules).
 */

/** Lines after a marker within which its edits must apply. */
export const WINDOW = 12;

/** The tests that must catch a mutant: files of one vitest project, optionally only the tests named by `grep`. */
export interface Killers {
  project: 'unit' | 'integration';
  files: string[];
  /** A vitest `-t` pattern: only the tests whose names match run. */
  grep?: string;
}

export interface Edit {
  search: string;
  replace: string;
}

interface MutantBase {
  name: string;
  /** The guarantee the mutant breaks, in one line. */
  breaks: string;
  killers: Killers;
}

export interface SourceMutant extends MutantBase {
  kind: 'source';
  /** The file holding the marker. */
  file: string;
  edits: Edit[];
}

export interface PatchRevertMutant extends MutantBase {
  kind: 'patch-revert';
  /** The patch file, relative to the checkout. */
  patch: string;
  /** The patched file whose hunks are reverted, as the patch names it (a/ and b/ stripped). */
  target: string;
  /** The package copied out of node_modules for the mutant. */
  package: string;
}

export type Mutant = SourceMutant | PatchRevertMutant;

export const MUTANTS: Mutant[] = [
  {
    kind: 'source',
    name: 'quota-off-by-one',
    breaks: 'a coupon is exhausted once redeemed_count reaches its quota (the mutant lets one more through)',
    file: 'consumers/rules.ts',
    edits: [{ search: 'coupon.redeemedCount >= terms.quota', replace: 'coupon.redeemedCount > terms.quota' }],
    killers: { project: 'unit', files: ['test/unit/rules.test.ts'] },
  },
  {
    kind: 'source',
    name: 'reverse-keeps-quota',
    breaks: "an applied REVERSE gives the coupon's quota back (the mutant marks the row REVERSED and keeps the count)",
    file: 'consumers/coupon-state.ts',
    edits: [{ search: 'this.redeemedCount -= 1;', replace: '' }],
    killers: { project: 'unit', files: ['test/unit/rules.test.ts'] },
  },
  {
    kind: 'source',
    name: 'cache-version-check',
    breaks: "only a request at or below its coupon's cached version (topic, partition, offset) is a known redelivery",
    file: 'consumers/decision-cache.ts',
    edits: [{ search: ' && r.offset <= version.offset;', replace: ';' }],
    killers: { project: 'integration', files: ['test/integration/decision-cache.test.ts'] },
  },
  {
    kind: 'source',
    name: 'cache-version-rises',
    breaks: "a coupon's cached version only rises (the mutant lets a late flush of a former owner lower it)",
    file: 'consumers/decision-cache.ts',
    edits: [{ search: 'if o and o > tonumber(offset) then', replace: 'if false then' }],
    killers: { project: 'integration', files: ['test/integration/decision-cache.test.ts'] },
  },
  {
    kind: 'source',
    name: 'commit-before-mysql',
    breaks: "a flush's offsets are committed only after its MySQL commit and audit publish (the mutant commits first)",
    file: 'consumers/flush-coalescer.ts',
    edits: [
      {
        search: 'const timings = await this.o.processor.process(parts, ',
        replace:
          'for (const { q, chunks } of group) this.o.committer?.flushed(q.topic, q.partition, Number(chunks[chunks.length - 1]!.messages[chunks[chunks.length - 1]!.messages.length - 1]!.offset) + 1, 0);\nawait this.o.committer?.commitNow();\nconst timings = await this.o.processor.process(parts, ',
      },
    ],
    killers: { project: 'integration', files: ['test/integration/crash-points.test.ts'], grep: 'crash-before-db-commit' },
  },
  {
    kind: 'source',
    name: 'audit-skipped-on-redelivery',
    breaks: 'a redelivered message whose decision MySQL already holds re-emits its audit record (the mutant publishes nothing)',
    file: 'consumers/batch-processor.ts',
    edits: [
      {
        search: 'const audit = records.filter((r): r is RedemptionDecided => r !== undefined);',
        replace: 'const audit = records.filter((r, i): r is RedemptionDecided => r !== undefined && !reemitted[i]);',
      },
    ],
    killers: { project: 'integration', files: ['test/integration/crash-points.test.ts'], grep: 'crash-after-db-commit' },
  },
  {
    kind: 'source',
    name: 'dead-letters-dropped',
    breaks: "a flush's dead letters are produced to <topic>.dlq with its audit records (the mutant drops them)",
    file: 'consumers/decision-publisher.ts',
    edits: [{ search: 'for (const dl of deadLetters) outgoing.push(', replace: 'for (const dl of deadLetters.slice(0, 0)) outgoing.push(' }],
    killers: { project: 'unit', files: ['test/unit/decision-publisher.test.ts'] },
  },
  {
    kind: 'source',
    name: 'partition-contract-off',
    breaks: "a request outside its key's murmur2 partition is dead-lettered as WRONG_PARTITION (the mutant decides it)",
    file: 'consumers/decode.ts',
    edits: [{ search: 'assertPlacement(message, request, partition, partitionCount);', replace: '' }],
    killers: { project: 'unit', files: ['test/unit/decode-batch.test.ts'] },
  },
  {
    kind: 'source',
    name: 'verify-count-unchecked',
    breaks: "the oracle: verify compares every coupon's redeemed_count with the reference's",
    file: 'verify/verify.ts',
    edits: [{ search: 'if (actual !== expected) differences.push(`coupon', replace: 'if (actual === undefined) differences.push(`coupon' }],
    killers: { project: 'unit', files: ['test/unit/verify.test.ts'] },
  },
  {
    kind: 'source',
    name: 'verify-audit-missing-unreported',
    breaks: 'the oracle: verify reports a decided message without an audit record',
    file: 'verify/audit-check.ts',
    edits: [{ search: 'if (this.seen.has(source)) continue;', replace: 'continue;' }],
    killers: { project: 'unit', files: ['test/unit/verify.test.ts'] },
  },
  {
    kind: 'source',
    name: 'sweep-removes-progressing-member',
    breaks:
      'the dead-member sweep removes a member only when its lease is missing and its work has stopped (the mutant removes on a missing lease alone, so a member cut off from Redis that still commits is removed)',
    file: 'consumers/member-liveness.ts',
    edits: [{ search: 'if (!this.workStopped(view, m.memberId, now)) continue;', replace: '' }],
    killers: { project: 'unit', files: ['test/unit/death-judge.test.ts'], grep: 'never removes a member that keeps committing' },
  },
  {
    kind: 'source',
    name: 'sweep-grace-kept-after-redis-failure',
    breaks:
      'a sweep that could not read Redis starts the lease grace over for everyone (the mutant keeps it, so the first sweep after Redis is back removes with no grace)',
    file: 'consumers/member-liveness.ts',
    edits: [{ search: '      this.missingSince.clear();\n      return { dead: [], foreign };', replace: '      return { dead: [], foreign };' }],
    killers: { project: 'unit', files: ['test/unit/death-judge.test.ts'], grep: 'could not read Redis starts the lease grace over' },
  },
  {
    kind: 'source',
    name: 'sweep-removes-nobody',
    breaks:
      "a member killed with kill -9 is removed by its peers within seconds, so its replacement decides within 10 s (the mutant removes nobody: the replacement waits for the dead member's session)",
    file: 'consumers/member-liveness.ts',
    edits: [{ search: '      for (const d of verdict.dead) await this.remove(d);', replace: '' }],
    killers: { project: 'integration', files: ['test/integration/recovery.test.ts'], grep: 'one kill -9 under load' },
  },
  {
    kind: 'patch-revert',
    name: 'producer-acks-per-broker',
    breaks:
      "a send() resolves only once every partition's messages are acknowledged, across retries (the mutant is KafkaJS 2.2.4's sendMessages.js: acknowledgements kept per broker, so a partition whose leader moved to a broker that already answered is never sent)",
    patch: 'patches/kafkajs+2.2.4.patch',
    target: 'node_modules/kafkajs/src/producer/sendMessages.js',
    package: 'kafkajs',
    killers: { project: 'unit', files: ['test/unit/kafkajs-send-messages.test.ts'] },
  },
];
