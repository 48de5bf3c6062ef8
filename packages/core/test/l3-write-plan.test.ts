import { describe, expect, it } from 'vitest';
import { keyText, planWrite } from '../src/drizzle/write-plan.js';
import { isStrataError } from '../src/errors.js';
import { items, notes, op, otherNotes, tokens, winners } from './support/write-plan.js';

describe('planWrite: coalescing', () => {
  it('keeps the last Postgres-ordered write of a key across ops, and reports the others as superseded', () => {
    const plan = planWrite(
      [
        op(items, { row: { id: 10, n: 1 } }, { row: { id: 2, n: 2 } }, { id: 10 }),
        op(items, { row: { id: 10, n: 3 } }, { id: '2' }),
      ],
      65_535,
    );
    expect(plan.winners.map((w) => [w.key, w.op, w.index, w.row?.n ?? 'delete'])).toEqual([
      ['10', 1, 0, 3],
      ['2', 1, 1, 'delete'],
    ]);
    // Every write starts as not applied: the losers stay so, the SQL's reply settles the winners.
    const notApplied = { applied: false, version: 0 };
    expect(plan.outcomes).toEqual([
      [notApplied, notApplied, notApplied],
      [notApplied, notApplied],
    ]);
  });

  it('keeps the highest Redis-ordered version of a key, set or delete; of equal versions the first', () => {
    const plan = planWrite(
      [
        op(notes, { row: { id: 'a', body: '3' }, version: 3 }, { row: { id: 'a', body: '5' }, version: 5 }),
        op(
          notes,
          { id: 'a', version: 4 },
          { id: 'b', version: 7 },
          { row: { id: 'b', body: 'same' }, version: 7 },
        ),
      ],
      65_535,
    );
    expect(plan.winners.map((w) => [w.key, w.version, w.row?.body ?? 'delete'])).toEqual([
      ['a', 5, '5'],
      ['b', 7, 'delete'],
    ]);
    expect(plan.outcomes[1]?.[2]).toEqual({ applied: false, version: 7 });
  });

  it('never coalesces two tables of the same name in different Postgres schemas', () => {
    expect(winners([op(notes, { id: 'x' }), op(otherNotes, { id: 'x' })])).toEqual([
      ['b.notes', 'x', null],
      ['notes', 'x', null],
    ]);
  });

  it('refuses a key that is both Postgres- and Redis-ordered, and a write without a usable key', () => {
    expect(() => planWrite([op(notes, { id: 'a' }, { id: 'a', version: 1 })], 65_535)).toThrow(TypeError);
    for (const write of [{ row: { body: 'no id' } }, { id: undefined }, { id: null }, { id: { a: 1 } }]) {
      let error: unknown;
      try {
        planWrite([op(notes, write)], 65_535);
      } catch (e) {
        error = e;
      }
      expect(isStrataError(error, 'MISSING_PRIMARY_KEY')).toBe(true);
    }
  });

  it('names keys as Postgres prints them: integers, bigints, text as is, uuids in lowercase', () => {
    expect([
      keyText(42),
      keyText(2n ** 64n),
      keyText('42'),
      keyText(null),
      keyText(undefined),
      keyText(1.5),
    ]).toEqual(['42', '18446744073709551616', '42', undefined, undefined, '1.5']);
    const lower = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
    for (const spelling of [lower, lower.toUpperCase(), `{${lower}}`, lower.replaceAll('-', '')]) {
      expect(keyText(spelling, 'uuid')).toBe(lower);
    }
    expect(keyText('not-a-uuid', 'uuid')).toBe('not-a-uuid');
    expect(keyText(lower.toUpperCase(), 'text')).toBe(lower.toUpperCase());
    expect(winners([op(tokens, { id: lower.toUpperCase() }, { id: lower })])).toEqual([
      ['tokens', lower, null],
    ]);
  });
});
