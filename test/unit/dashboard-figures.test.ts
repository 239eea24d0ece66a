import { describe, expect, it } from 'vitest';

import { parsePrometheusText, sumBy } from '../../dashboard/prometheus-text.js';

const BODY = `# HELP redeem_decisions_total Decisions by outcome and reject reason
# TYPE redeem_decisions_total counter
redeem_decisions_total{decision="APPLIED"} 40
redeem_decisions_total{decision="REJECTED",reason="EXHAUSTED"} 7
redeem_dead_letters_total{code="REQUEST_INVALID"} 2
redeem_stage_mysql_seconds_bucket{le="0.001",stage="all"} 3
redeem_stage_mysql_seconds_bucket{le="+Inf",stage="all"} 10
odd{text="a \\"quoted\\" value"} 1
`;

describe("the live page's figures from /metrics", () => {
  it('reads names, labels and values, comments skipped', () => {
    const samples = parsePrometheusText(BODY);
    expect(samples).toHaveLength(6);
    expect(samples[1]).toEqual({ name: 'redeem_decisions_total', labels: { decision: 'REJECTED', reason: 'EXHAUSTED' }, value: 7 });
    expect(samples[5]!.labels.text).toBe('a "quoted" value');
  });

  it('sums a metric by a label, over members', () => {
    const two = [...parsePrometheusText(BODY), ...parsePrometheusText(BODY)];
    const byOutcome = sumBy(two, 'redeem_decisions_total', (l) => (l.reason ? `${l.decision}/${l.reason}` : l.decision!));
    expect(Object.fromEntries(byOutcome)).toEqual({ APPLIED: 80, 'REJECTED/EXHAUSTED': 14 });
    expect(Object.fromEntries(sumBy(two, 'redeem_stage_mysql_seconds_bucket', (l) => l.le!))).toEqual({ '0.001': 6, '+Inf': 20 });
  });
});
