import { describe, expect, it } from 'vitest';
import { isStrataError } from '../errors.js';
import { jsonCodec } from './json-codec.js';
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
