import { describe, expect, it } from 'vitest';
import { compareText, planWrite } from '../src/drizzle/write-plan.js';
import type { Row, WriteOp } from '../src/l3/types.js';
import { blobs, items, notes, op, winners } from './support/write-plan.js';

describe('planWrite: lock order', () => {
  it('compares text by code point, as Postgres\' "C" collation (UTF-8 bytes) does, not by UTF-16 unit', () => {
    expect('\uFFFD' > '\u{1F600}').toBe(true); // JS: 0xFFFD > 0xD83D
    expect(compareText('\uFFFD', '\u{1F600}')).toBeLessThan(0);
    expect(compareText('\u{1F600}', '\u{1F601}')).toBeLessThan(0);
    expect(compareText('a', 'a')).toBe(0);
    expect(compareText('a', 'ab')).toBeLessThan(0);
    expect(compareText('b', 'ab')).toBeGreaterThan(0);
    expect(compareText('x\u{10FFFF}', 'x\uFFFF')).toBeGreaterThan(0);
    // Against UTF-8 byte order, over strings mixing ASCII, BMP, surrogate pairs and prefixes.
    const alphabet = [
      'a',
      'b',
      'é',
      '\u0800',
      '\uD7FF',
      '\uE000',
      '\uFFFD',
      '\uFFFF',
      '\u{10000}',
      '\u{1F600}',
      '\u{10FFFF}',
    ];
    let seed = 7;
    const random = () => {
      seed = (seed * 48_271) % 2_147_483_647;
      return seed / 2_147_483_647;
    };
    const strings = Array.from({ length: 300 }, () =>
      Array.from(
        { length: Math.floor(random() * 4) },
        () => alphabet[Math.floor(random() * alphabet.length)],
      ).join(''),
    );
    const bytes = (s: string) => Buffer.from(s, 'utf8');
    let unitOrderDiffers = 0;
    for (let i = 0; i + 1 < strings.length; i++) {
      const [a, b] = [strings[i]!, strings[i + 1]!];
      const expected = Math.sign(Buffer.compare(bytes(a), bytes(b)));
      expect(Math.sign(compareText(a, b)), JSON.stringify([a, b])).toBe(expected);
      if ((a < b ? -1 : a > b ? 1 : 0) !== expected) unitOrderDiffers++;
    }
    // The sample does tell the two orders apart.
    expect(unitOrderDiffers).toBeGreaterThan(0);
  });

  it('orders winners Postgres-ordered first, then Redis-ordered, each by identity then key in code-point order', () => {
    expect(
      winners([
        op(notes, { id: '\uFFFD', version: 1 }, { id: '\u{1F600}', version: 1 }, { id: 'a', version: 1 }),
        op(items, { id: 10 }, { id: 9 }, { id: 100 }),
        op(blobs, { id: 1 }),
      ]),
    ).toEqual([
      ['blobs', '1', null],
      ['items', '10', null],
      ['items', '100', null],
      ['items', '9', null],
      ['notes', 'a', 1],
      ['notes', '\uFFFD', 1],
      ['notes', '\u{1F600}', 1],
    ]);
  });
});

describe('planWrite: groups and parts', () => {
  const shapes = (ops: WriteOp[], maxParameters = 65_535) =>
    planWrite(ops, maxParameters).groups.map((g) => ({
      identity: g.schema.identity,
      given: g.given,
      columns: g.columns?.map((c) => c.key) ?? 'delete',
      keys: g.writes.map((w) => w.key),
      parts: g.parts.map((p) => p.length),
      recordset: g.recordset,
    }));

  it('groups by schema, ordering and shape; generated columns are no part of a shape, JS defaults are', () => {
    expect(
      shapes([
        op(
          items,
          { row: { id: 1, n: 1 } },
          { row: { id: 2, n: 2, twice: 4 } },
          { row: { id: 3, note: 'x' } },
          { id: 4 },
        ),
        op(notes, { row: { id: 'a', body: 'b' }, version: 2 }, { id: 'c', version: 2 }),
      ]),
    ).toEqual([
      {
        identity: 'items',
        given: false,
        columns: ['id', 'n', 'token'],
        keys: ['1', '2'],
        parts: [2],
        recordset: false,
      },
      {
        identity: 'items',
        given: false,
        columns: ['id', 'note', 'token'],
        keys: ['3'],
        parts: [1],
        recordset: false,
      },
      { identity: 'items', given: false, columns: 'delete', keys: ['4'], parts: [1], recordset: false },
      { identity: 'notes', given: true, columns: ['id', 'body'], keys: ['a'], parts: [1], recordset: false },
      { identity: 'notes', given: true, columns: 'delete', keys: ['c'], parts: [1], recordset: false },
    ]);
    const [row] = planWrite([op(items, { row: { id: 1 } })], 65_535).winners;
    expect(row?.row).toEqual({ id: 1, token: 'js' });
  });

  it("a $defaultFn it fills, and a write's own defaults, only the insert sets: never the ON CONFLICT", () => {
    const plan = planWrite(
      [
        op(
          items,
          { row: { id: 1, n: 1 } },
          { row: { id: 2, n: 2, token: 't' } },
          { row: { id: 3, n: 3, token: 't' }, defaults: ['token'] },
        ),
      ],
      65_535,
    );
    expect(plan.groups.map((g) => [g.writes.map((w) => w.key), g.defaults ?? null])).toEqual([
      [['1', '3'], ['token']],
      [['2'], null],
    ]);
    // Not recorded as set at the write's version (`_strata_versions.cols`): the insert alone sets it.
    expect(plan.winners.map((w) => w.sent ?? null)).toEqual([['n'], ['n', 'token'], ['n']]);
  });

  it('sends up to 8 rows as VALUES, more as one recordset when JSON can carry them, else VALUES parts under the parameter limit', () => {
    const many = (count: number, make: (i: number) => Row) =>
      Array.from({ length: count }, (_, i) => ({ row: make(i) }));
    expect(shapes([op(items, ...many(8, (i) => ({ id: i, n: i })))])[0]).toMatchObject({
      parts: [8],
      recordset: false,
    });
    expect(shapes([op(items, ...many(9, (i) => ({ id: i, n: i })))])[0]).toMatchObject({
      parts: [9],
      recordset: true,
    });
    // 3 cells a row (id, n, token) and the identity once: 20 rows under 64 parameters, but 8 is less.
    expect(shapes([op(items, ...many(5, (i) => ({ id: i, n: i })))], 64)[0]).toMatchObject({
      parts: [5],
      recordset: false,
    });
    expect(shapes([op(items, ...many(21, (i) => ({ id: i, n: i })))], 64)[0]).toMatchObject({
      parts: [21],
      recordset: true,
    });
    // Bytes do not travel in JSON: VALUES parts. 2 cells (and a version when Redis-ordered) a row.
    const bytes = (i: number) => ({ id: i, data: Uint8Array.of(i) });
    expect(shapes([op(blobs, ...many(70, bytes))], 64)[0]).toMatchObject({
      parts: [31, 31, 8],
      recordset: false,
    });
    const versioned = Array.from({ length: 70 }, (_, i) => ({ row: bytes(i), version: 1 }));
    expect(shapes([op(blobs, ...versioned)], 64)[0]).toMatchObject({
      parts: [20, 20, 20, 10],
      recordset: false,
    });
    // Deletes bind the key alone.
    const deletes = Array.from({ length: 100 }, (_, i) => ({ id: i }));
    expect(shapes([op(blobs, ...deletes)], 64)[0]).toMatchObject({ parts: [100], recordset: true });
    expect(shapes([op(blobs, ...deletes.slice(0, 8))])[0]).toMatchObject({ parts: [8], recordset: false });
  });
});
