import { describe, expect, it } from 'vitest';
import { isStrataError } from '../errors.js';
import { encodeJsonFields, isoUtcMillis, jsonCodec } from './json-codec.js';
import type { ColumnKinds } from './types.js';

const KINDS: ColumnKinds = { id: 'bigint', at: 'date', blob: 'bytes', doc: 'json', n: 'plain' };

function decodeError(data: string | Uint8Array, kinds: ColumnKinds = KINDS): unknown {
  try {
    jsonCodec.decode(data, kinds);
  } catch (err) {
    return err;
  }
  throw new Error('decode did not throw');
}

describe('jsonCodec', () => {
  it('writes readable JSON: ISO dates, decimal bigints, standard base64', () => {
    const row = { id: -12n, at: new Date(0), blob: new Uint8Array([251, 255]), doc: { a: [1] }, n: 2 };
    expect(jsonCodec.encode(row, KINDS)).toBe(
      '{"id":"-12","at":"1970-01-01T00:00:00.000Z","blob":"+/8=","doc":{"a":[1]},"n":2}',
    );
  });

  it('keeps a bigint beyond 64 bits, which only a decimal string can carry', () => {
    const id = -(10n ** 40n);
    expect(jsonCodec.decode(jsonCodec.encode({ id }, KINDS), KINDS).id).toBe(id);
  });

  it('escapes lone surrogates, so they survive as text', () => {
    const n = 'a\uD800b';
    const text = jsonCodec.encode({ n }, KINDS) as string;
    expect(text).toContain('\\ud800');
    expect(jsonCodec.decode(text, KINDS).n).toBe(n);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    'refuses %s in a number column (JSON would turn it into null)',
    (n) => {
      expect(() => jsonCodec.encode({ n }, KINDS)).toThrow(
        expect.objectContaining({ code: 'ENCODE_FAILED' }),
      );
    },
  );

  it('keeps a field named __proto__ as data, on both sides', () => {
    const row = JSON.parse('{"__proto__":{"polluted":true},"n":1}') as Record<string, unknown>;
    const back = jsonCodec.decode(jsonCodec.encode(row, KINDS), KINDS);
    expect(Object.hasOwn(back, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('does not mistake inherited names for kinds', () => {
    expect(jsonCodec.decode('{"constructor":"x","toString":"y"}', KINDS)).toEqual({
      constructor: 'x',
      toString: 'y',
    });
  });

  it.each([
    ['an array', '[1,2]'],
    ['null', 'null'],
    ['a string', '"row"'],
    ['invalid JSON', '{"a":'],
  ])('rejects %s at the top level with DECODE_FAILED', (_label, text) => {
    const err = decodeError(text);
    expect(isStrataError(err, 'DECODE_FAILED')).toBe(true);
  });

  it('rejects dates in any format other than toISOString', () => {
    for (const at of [
      '2024-01-01',
      '2024-01-01T00:00:00Z',
      '2024-01-01T00:00:00.000+01:00',
      ' 2024-01-01T00:00:00.000Z',
    ]) {
      expect(isStrataError(decodeError(JSON.stringify({ at })), 'DECODE_FAILED')).toBe(true);
    }
  });

  it('reads a date string by arithmetic exactly as new Date does, or leaves it to new Date', () => {
    const pad = (n: number, w: number) => String(n).padStart(w, '0');
    const strings: string[] = [];
    // Every day number of every month (a day past the month's end rolls over, as new Date does),
    // leap years, the field limits, years at the edges of the fast path, and malformed fields.
    for (const year of [99, 100, 999, 1900, 1970, 2000, 2023, 2024, 2100, 9999]) {
      for (let month = 0; month <= 13; month++) {
        for (const day of [0, 1, 28, 29, 30, 31, 32]) {
          strings.push(`${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T12:34:56.789Z`);
        }
      }
    }
    for (const time of ['00:00:00.000', '23:59:59.999', '24:00:00.000', '23:60:00.000', '23:59:60.000'])
      strings.push(`2024-03-10T${time}Z`);
    strings.push('2024-03-1xT00:00:00.000Z', '2024-03-10T00:00:00.00aZ', '2024-03-10 00:00:00.000Z');
    // A wrong character in every digit position.
    const good = '2024-03-10T12:34:56.789Z';
    for (const at of [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22])
      for (const c of ['x', '/', ':']) strings.push(`${good.slice(0, at)}${c}${good.slice(at + 1)}`);
    strings.push('+012345-01-01T00:00:00.000Z', '-000001-01-01T00:00:00.000Z', '2024-03-10T00:00:00.000z');
    let fast = 0;
    for (const s of strings) {
      const ms = isoUtcMillis(s);
      if (ms === undefined) continue;
      fast += 1;
      expect(ms, s).toBe(new Date(s).getTime());
    }
    expect(fast).toBeGreaterThan(400);
    // Random instants across the fast path's years, as toISOString writes them.
    for (let i = 0; i < 2_000; i++) {
      const date = new Date(Date.UTC(100, 0, 1) + Math.floor(Math.random() * 2.5e14));
      const s = date.toISOString();
      expect(isoUtcMillis(s), s).toBe(date.getTime());
    }
  });

  it('rejects non-canonical base64 and invalid UTF-8 bytes', () => {
    expect(isStrataError(decodeError('{"blob":"+/9="}'), 'DECODE_FAILED')).toBe(true);
    expect(isStrataError(decodeError(new Uint8Array([0x7b, 0xff, 0x7d])), 'DECODE_FAILED')).toBe(true);
  });

  it('keeps the parser error as the cause but out of the message', () => {
    const err = decodeError('{"secret":"hunter2"');
    expect(isStrataError(err, 'DECODE_FAILED')).toBe(true);
    if (!isStrataError(err)) return;
    expect(err.cause).toBeInstanceOf(SyntaxError);
    expect(err.message).not.toContain('hunter2');
  });
});

describe('encodeJsonFields', () => {
  /** What it stands for: the codec's encode of a copy of the fields `keys` (those in the row). */
  const copied = (row: Record<string, unknown>, keys: readonly string[]) => {
    const out: Record<string, unknown> = {};
    for (const key of keys) if (key in row) out[key] = row[key];
    return jsonCodec.encode(out, KINDS);
  };
  const outcome = (f: () => unknown) => {
    try {
      return f();
    } catch (err) {
      return isStrataError(err) ? `${err.code}: ${err.message}` : err;
    }
  };

  it.each([
    [
      { id: 7n, at: new Date(0), blob: new Uint8Array([1, 2]), doc: { a: [1, null] }, n: -0 },
      ['n', 'doc', 'id', 'at', 'blob'],
    ],
    [{ id: 1n, n: 2, extra: 'left out', at: null, doc: undefined }, ['id', 'at', 'doc', 'n', 'missing']],
    [{ '10': 'a', '2': 'b', n: 1 }, ['n', '10', '2']],
    [{ n: Number.NaN }, ['n']],
    [{ at: '1970-01-01T00:00:00.000Z' }, ['at']],
    [{ doc: { deep: new Date(0) } }, ['doc']],
  ])('encodes %o over %o as the codec encodes a copy of those fields, failures included', (row, keys) => {
    expect(outcome(() => encodeJsonFields(row, keys, KINDS))).toEqual(outcome(() => copied(row, keys)));
  });
});
