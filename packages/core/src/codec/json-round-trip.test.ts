import { describe, expect, it } from 'vitest';
import { jsonCodec } from './json-codec.js';
import { jsonRoundTrip } from './json-round-trip.js';
import type { ColumnKinds } from './types.js';

const KINDS: ColumnKinds = { id: 'bigint', at: 'date', blob: 'bytes', doc: 'json', n: 'plain' };
const KEYS = ['id', 'at', 'blob', 'doc', 'n', 'name', 'tags'];

/** What the codec gives back for the fields `keys` of `row`: what `RowCodec.toL2` then `fromL2` do. */
function decoded(row: Record<string, unknown>, keys = KEYS): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const key of keys) if (key in row) picked[key] = row[key];
  return jsonCodec.decode(jsonCodec.encode(picked, KINDS), KINDS);
}

/** Equal as values, field order, and -0 apart from 0 at any depth (toStrictEqual does not tell them apart). */
function expectSame(actual: unknown, expected: unknown): void {
  expect(actual).toStrictEqual(expected);
  expect(JSON.stringify(actual, signedZero)).toBe(JSON.stringify(expected, signedZero));
}

function signedZero(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Uint8Array) return `bytes:${[...value].join(',')}`;
  return Object.is(value, -0) ? '-0' : value;
}

const ROWS: Record<string, unknown>[] = [
  {
    id: 7n,
    at: new Date(1_700_000_000_123),
    blob: new Uint8Array([0, 255, 7]),
    doc: { a: [1, { b: null }] },
    n: 2,
  },
  {
    id: -(10n ** 40n),
    at: new Date(-1),
    n: -0,
    doc: [-0, 1.5e-300, 'x'],
    name: '\ud800 lone',
    tags: ['a', -0],
  },
  { at: new Date(Date.UTC(20_000, 0, 1)), name: null, n: null, doc: null, blob: Buffer.from('hi') },
  { id: 0n, n: 'plain text', doc: 'a json string', name: undefined, tags: { nested: { deep: [[], {}] } } },
  { n: true, doc: false, name: '', tags: [] },
  { extra: 'not a listed key', n: 1 },
];

describe('jsonRoundTrip', () => {
  it('gives what encoding then decoding gives, field by field, for every kind', () => {
    for (const row of ROWS) expectSame(jsonRoundTrip(row, KEYS, KINDS), decoded(row));
  });

  it('takes only the listed keys, in their order', () => {
    const row = { n: 1, name: 'a', id: 3n };
    const out = jsonRoundTrip(row, ['name', 'id'], KINDS)!;
    expect(Object.keys(out)).toEqual(['name', 'id']);
    expectSame(out, decoded(row, ['name', 'id']));
  });

  it("shares nothing with the row: objects, dates and bytes are the copy's own", () => {
    const row = ROWS[0]!;
    const out = jsonRoundTrip(row, KEYS, KINDS)!;
    for (const key of ['at', 'blob', 'doc']) expect(out[key]).not.toBe(row[key]);
    (row.blob as Uint8Array)[0] = 9;
    expect((out.blob as Uint8Array)[0]).toBe(0);
  });

  it('declines a row with an own __proto__ field (decode that one)', () => {
    const row = JSON.parse('{"__proto__": {"x": 1}, "n": 1}') as Record<string, unknown>;
    expect(jsonRoundTrip(row, ['n'], KINDS)).toBeUndefined();
  });
});
