import type { Decision, RedemptionDecided, RejectReason } from '../schemas/types.js';

/** What one consumer has done so far; the CLI's summary and the metrics read it. */
export class ConsumerStats {
  readonly decisions: Record<Decision, number> = { APPLIED: 0, DUPLICATE: 0, REJECTED: 0 };
  readonly rejectedBy = new Map<RejectReason, number>();
  deadLetters = 0;
  batches = 0;
  messages = 0;
  mysqlStatements = 0;
  mysqlRetries = 0;
  redisRoundTrips = 0;
  redisErrors = 0;
  redeliveries = 0;
  rebalances = 0;
  firstMessageAt: number | null = null;
  lastMessageAt: number | null = null;

  recordDecisions(records: readonly RedemptionDecided[]): void {
    for (const r of records) {
      this.decisions[r.decision] += 1;
      if (r.reason) this.rejectedBy.set(r.reason, (this.rejectedBy.get(r.reason) ?? 0) + 1);
    }
  }

  get decided(): number {
    return this.decisions.APPLIED + this.decisions.DUPLICATE + this.decisions.REJECTED;
  }

  toJSON(): Record<string, unknown> {
    return {
      messages: this.messages,
      decided: this.decided,
      ...this.decisions,
      rejectedBy: Object.fromEntries(this.rejectedBy),
      deadLetters: this.deadLetters,
      batches: this.batches,
      mysqlStatements: this.mysqlStatements,
      mysqlRetries: this.mysqlRetries,
      redisRoundTrips: this.redisRoundTrips,
      redisErrors: this.redisErrors,
      redeliveries: this.redeliveries,
      rebalances: this.rebalances,
    };
  }
}
