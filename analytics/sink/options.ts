import { auditSinkGroup } from '../../lib/kafka-acls.js';

/** Options of `redeem audit sink` (analytics/sink/sink.ts). */
export interface SinkOptions {
  /** The folder the layout's folder (`decisions-v1/`) goes in; made if missing. */
  dir: string;
  /** The sink's own consumer group. @defaultValue `<CONSUMER_GROUP>-audit-sink` */
  groupId: string;
  /** Stop once the group has landed the whole topic and nothing came for this many seconds; else follow until SIGTERM. */
  exitWhenIdle?: number;
  /** Rows of one chunk (one file per hour it touches) at most. @defaultValue 100000 */
  maxRowsPerChunk: number;
  /** How long a fetch waits for 1 MB before it returns what there is: while following, a chunk at most this often per partition. @defaultValue 5000 */
  maxWaitMs: number;
  /** Told of each landed chunk (the CLI prints nothing per chunk; tests watch). */
  onChunk?(chunk: LandedChunk): void;
}

export interface LandedChunk {
  partition: number;
  first: number;
  last: number;
  rows: number;
  files: string[];
}

export interface SinkSummary {
  /** Audit records read (each re-landed record of a repaired chunk counts again). */
  records: number;
  /** Rows landed: decided source records. */
  rows: number;
  /** Records skipped as repeats of source records already landed. */
  repeats: number;
  files: number;
}

export const SINK_DEFAULTS = { maxRowsPerChunk: 100_000, maxWaitMs: 5000 } as const;

/** The group of `audit sink` when none is named: the pipeline's, suffixed (the analyst's ACLs name it, lib/kafka-acls.ts). */
export const defaultSinkGroup = auditSinkGroup;
