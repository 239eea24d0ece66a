import { describe, expect, it } from 'vitest';

import { requestFromJson, requestProblems } from '../../schemas/request-validation.js';

const good = {
  request_id: 'r1',
  coupon_code: 'C1',
  user_id: 'u1',
  order_id: 'o1',
  op: 'REDEEM',
  amount_cents: 1299,
  currency: 'EUR',
  occurred_at: '2026-11-24T10:00:00Z',
  source: 'web',
};

describe('request validation', () => {
  it('accepts ISO-8601 or epoch millis for occurred_at', () => {
    const iso = requestFromJson(good);
    const millis = requestFromJson({ ...good, occurred_at: Date.parse('2026-11-24T10:00:00Z') });
    expect(iso).toEqual(millis);
    expect('request' in iso && iso.request.reverses_request_id).toBeNull();
  });

  it('lists every problem of a bad request', () => {
    const result = requestFromJson({ ...good, coupon_code: '', amount_cents: -5, op: 'REVERSE', currency: 'euro' });
    expect(result).toEqual({
      problems: [
        'coupon_code must not be empty',
        'a REVERSE needs reverses_request_id (the redemption it refunds)',
        'amount_cents must be a whole number >= 0, got -5',
        'currency must be a 3-letter ISO code, got "euro"',
      ],
    });
  });

  it('reports every problem of a line: a field of the wrong type does not hide the rules broken by the others', () => {
    expect(requestFromJson({ ...good, request_id: ' ', amount_cents: '12', currency: 'euro', reverses_request_id: 'r0' })).toEqual({
      problems: [
        'amount_cents must be a number',
        'request_id must not be empty',
        'a REDEEM must not carry reverses_request_id',
        'currency must be a 3-letter ISO code, got "euro"',
      ],
    });
    // The rules do not repeat what the type check said about a field.
    expect(requestFromJson({ ...good, user_id: 7, op: 'REFUND', occurred_at: 'soon' })).toEqual({
      problems: ['user_id must be a string', 'op must be "REDEEM" or "REVERSE"', expect.stringMatching(/^occurred_at must be an ISO-8601 time/)],
    });
  });

  it('reports missing fields and bad times', () => {
    expect(requestFromJson({ op: 'REDEEM', occurred_at: 'soon' })).toEqual({
      problems: expect.arrayContaining([
        'request_id is missing',
        'amount_cents must be a number',
        expect.stringMatching(/^occurred_at must be an ISO-8601 time with a zone/),
      ]),
    });
    expect(requestFromJson([1])).toEqual({ problems: ['must be a JSON object'] });
  });

  it('refuses a REDEEM that names a redemption to reverse', () => {
    const r = { ...good, occurred_at: new Date(), op: 'REDEEM' as const, reverses_request_id: 'x' };
    expect(requestProblems(r)).toContain('a REDEEM must not carry reverses_request_id');
  });

  it('refuses control characters in every id (finding 4: NUL in ids)', () => {
    for (const field of ['request_id', 'coupon_code', 'user_id', 'order_id', 'source'] as const) {
      const result = requestFromJson({ ...good, [field]: 'A\u0000r1' });
      expect(result, field).toEqual({ problems: [`${field} must not contain control characters, got "A\\u0000r1"`] });
    }
    expect(requestFromJson({ ...good, op: 'REVERSE', reverses_request_id: 'x\ny' })).toEqual({
      problems: ['reverses_request_id must not contain control characters, got "x\\ny"'],
    });
  });

  it('refuses times that would be changed on the way (finding 6)', () => {
    const problemsOf = (occurred_at: unknown) => {
      const result = requestFromJson({ ...good, occurred_at });
      return 'problems' in result ? result.problems.join('; ') : '';
    };
    expect(problemsOf('2026-11-24T10:00:00')).toMatch(/with a zone/);
    expect(problemsOf('2026-02-31T10:00:00Z')).toMatch(/day that does not exist/);
    expect(problemsOf('0000-01-01T00:00:00Z')).toMatch(/must lie within 1970-01-01/);
    expect(problemsOf(-8.64e15)).toMatch(/must lie within 1970-01-01/);
    // A REVERSE dated in microseconds: year 56867, beyond MySQL's DATETIME (finding 3).
    expect(problemsOf(Date.parse('2026-11-24T10:00:00Z') * 1000)).toMatch(/must lie within/);
    expect(problemsOf('2026-11-24T11:00:00+01:00')).toBe('');
    expect(problemsOf('9999-12-31T23:59:59.999Z')).toBe('');
  });
});
