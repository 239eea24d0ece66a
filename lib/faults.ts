/**
 * Fault injection for proving the pipeline's guarantees: at each named point of a flush, the process
 * kills itself with SIGKILL (no cleanup, no shutdown hooks), with the configured probability. Off unless
 * REDEEM_FAULTS names a point.
 */
export const FAULT_POINTS = ['crash-before-db-commit', 'crash-after-db-commit', 'crash-after-redis', 'crash-after-audit'] as const;

export type FaultPoint = (typeof FAULT_POINTS)[number];
export type FaultPlan = Partial<Record<FaultPoint, number>>;

/** Parses "point:probability,point:probability"; an empty string is no faults. */
export function parseFaultPlan(raw: string): FaultPlan {
  const plan: FaultPlan = {};
  for (const part of raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [name, probability] = part.split(':');
    if (!FAULT_POINTS.includes(name as FaultPoint)) throw new Error(`unknown fault point "${name}"; known: ${FAULT_POINTS.join(', ')}`);
    const p = Number(probability);
    if (probability === undefined || !Number.isFinite(p) || p < 0 || p > 1) throw new Error(`"${part}" needs a probability between 0 and 1, e.g. ${name}:0.02`);
    plan[name as FaultPoint] = p;
  }
  return plan;
}

export class FaultInjector {
  constructor(
    private readonly plan: FaultPlan,
    private readonly random: () => number = Math.random,
    private readonly kill: (point: FaultPoint) => void = (point) => {
      process.stderr.write(`fault injected: ${point}\n`);
      process.kill(process.pid, 'SIGKILL');
    },
  ) {}

  at(point: FaultPoint): void {
    const p = this.plan[point];
    if (p !== undefined && p > 0 && this.random() < p) this.kill(point);
  }
}
