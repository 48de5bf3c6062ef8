import { encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { isStrataError } from '../errors.js';
import { msgpackCodec } from './msgpack-codec.js';
import type { ColumnKinds } from './types.js';

const KINDS: ColumnKinds = { id: 'bigint', at: 'date', blob: 'bytes', doc: 'json', n: 'plain' };

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isStrataError(err) ? err.code : `not a StrataError: ${String(err)}`;
  }
  return undefined;
}

describe('msgpackCodec', () => {
  it('is smaller than JSON for typed columns', () => {
    const row = { id: 2n ** 62n, at: new Date(), blob: new Uint8Array(64) };
    const bytes = msgpackCodec.encode(row, KINDS) as Uint8Array;
    expect(bytes.length).toBeLessThan(JSON.stringify({ ...row, id: '', blob: 'x'.repeat(88) }).length);
  });

  it('keeps NaN and ±Infinity in plain number columns (a float64 can)', () => {
    for (const n of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(msgpackCodec.decode(msgpackCodec.encode({ n }, KINDS), KINDS).n).toBe(n);
    }
    expect(codeOf(() => msgpackCodec.encode({ doc: [Number.NaN] }, KINDS))).toBe('ENCODE_FAILED');
  });

  it('keeps unsigned 64-bit bigints and refuses wider ones instead of wrapping', () => {
    const id = 2n ** 64n - 1n;
    expect(msgpackCodec.decode(msgpackCodec.encode({ id }, KINDS), KINDS).id).toBe(id);
    expect(codeOf(() => msgpackCodec.encode({ id: 2n ** 64n }, KINDS))).toBe('ENCODE_FAILED');
    expect(codeOf(() => msgpackCodec.encode({ id: -(2n ** 63n) - 1n }, KINDS))).toBe('ENCODE_FAILED');
  });

  it('refuses lone surrogates, which UTF-8 cannot carry', () => {
    expect(codeOf(() => msgpackCodec.encode({ n: 'a\uD800' }, KINDS))).toBe('ENCODE_FAILED');
    expect(codeOf(() => msgpackCodec.encode({ doc: { 'k\uDC00': 1 } }, KINDS))).toBe('ENCODE_FAILED');
    expect(msgpackCodec.decode(msgpackCodec.encode({ n: '🎉' }, KINDS), KINDS).n).toBe('🎉');
  });

  it('turns a bigint column written as a small number into a bigint', () => {
    const bytes = encode({ id: 42, n: 42 });
    expect(msgpackCodec.decode(bytes, KINDS)).toStrictEqual({ id: 42n, n: 42 });
    expect(codeOf(() => msgpackCodec.decode(encode({ id: 2 ** 60 }), KINDS))).toBe('DECODE_FAILED');
  });

  it('returns bytes that own their buffer, not views into the input', () => {
    const input = msgpackCodec.encode({ blob: new Uint8Array([1, 2, 3]), n: 'x' }, KINDS) as Uint8Array;
    const blob = msgpackCodec.decode(input, KINDS).blob as Uint8Array;
    expect(blob.buffer).not.toBe(input.buffer);
    expect(blob.buffer.byteLength).toBe(3);
    blob[0] = 9;
    expect(msgpackCodec.decode(input, KINDS).blob).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('returns a tight array from encode', () => {
    const bytes = msgpackCodec.encode({ n: 1 }, KINDS) as Uint8Array;
    expect(bytes.byteOffset).toBe(0);
    expect(bytes.buffer.byteLength).toBe(bytes.length);
  });

  it.each<[string, Uint8Array | string]>([
    ['an array', encode([1, 2])],
    ['nil', encode(null)],
    ['a string', encode('row')],
    ['trailing bytes', new Uint8Array([...encode({ n: 1 }), 0])],
    ['text that is not base64', 'not base64!'],
  ])('rejects %s with DECODE_FAILED', (_label, data) => {
    expect(codeOf(() => msgpackCodec.decode(data, KINDS))).toBe('DECODE_FAILED');
  });

  it('rejects a date column holding a string, even an ISO one', () => {
    expect(codeOf(() => msgpackCodec.decode(encode({ at: '2024-01-01T00:00:00.000Z' }), KINDS))).toBe(
      'DECODE_FAILED',
    );
  });
});
