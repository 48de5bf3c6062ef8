import { describe, expect, it } from 'vitest';
import { deep, expectStrataError, fullRow, KINDS } from './conformance-fixtures.js';
import type { Codec } from './types.js';

/**
 * The failure half of the codec conformance suite: what every codec must refuse, and how.
 * Run through {@link describeCodecConformance}, not on its own.
 */
export function describeCodecErrorConformance(name: string, codec: Codec): void {
  const roundTrip = (row: Readonly<Record<string, unknown>>) => codec.decode(codec.encode(row, KINDS), KINDS);

  describe(`${name} (codec conformance: errors)`, () => {
    it.each<[string, Record<string, unknown>, string]>([
      ['a bigint inside a json column', { meta: { n: 1n } }, 'meta'],
      ['a Date inside a json column', { meta: { at: new Date(0) } }, 'meta'],
      ['bytes inside a json column', { meta: [new Uint8Array(1)] }, 'meta'],
      ['NaN inside a json column', { meta: { n: Number.NaN } }, 'meta'],
      ['undefined in an array', { meta: [1, undefined] }, 'meta'],
      ['a Map', { meta: new Map() }, 'meta'],
      ['a class instance', { meta: new (class Point {})() }, 'meta'],
      ['a function', { name: () => 1 }, 'name'],
      ['a symbol', { name: Symbol('s') }, 'name'],
      ['a bigint in an undeclared column', { extra: 1n }, 'extra'],
      ['a Date in an undeclared column', { extra: new Date(0) }, 'extra'],
      ['a string in a date column', { createdAt: '2024-01-01T00:00:00.000Z' }, 'createdAt'],
      ['an invalid Date', { createdAt: new Date(Number.NaN) }, 'createdAt'],
      ['a number in a bigint column', { id: 1 }, 'id'],
      ['an array of numbers in a bytes column', { avatar: [1, 2] }, 'avatar'],
      ['nesting past 100 levels', { meta: deep(150) }, 'meta'],
    ])('refuses to encode %s: ENCODE_FAILED naming the field', (_label, row, field) => {
      const err = expectStrataError(() => codec.encode(row, KINDS), 'ENCODE_FAILED');
      expect(err.details?.field).toBe(field);
      expect(err.message).toContain(field);
    });

    it('refuses a cyclic object', () => {
      const meta: Record<string, unknown> = { a: 1 };
      meta.self = { back: meta };
      const err = expectStrataError(() => codec.encode({ meta }, KINDS), 'ENCODE_FAILED');
      expect(err.details?.field).toBe('meta');
      // Shared, non-cyclic references are fine.
      const shared = { x: 1 };
      expect(roundTrip({ meta: { a: shared, b: [shared] } })).toStrictEqual({
        meta: { a: { x: 1 }, b: [{ x: 1 }] },
      });
    });

    it('never puts field values in encode errors', () => {
      const row = { name: 'TOP-SECRET-1', meta: { token: 'TOP-SECRET-2', bad: 1n } };
      const err = expectStrataError(() => codec.encode(row, KINDS), 'ENCODE_FAILED');
      expect(`${err.message} ${JSON.stringify(err.details)} ${String(err.cause)}`).not.toContain(
        'TOP-SECRET',
      );
    });

    it('fails to decode garbage with DECODE_FAILED', () => {
      const good = codec.encode(fullRow(), KINDS);
      const cut =
        typeof good === 'string' ? good.slice(0, good.length >> 1) : good.subarray(0, good.length >> 1);
      const garbage: (string | Uint8Array)[] = [
        '',
        new Uint8Array(),
        cut,
        new Uint8Array([0xc1, 0xff, 0x00]),
      ];
      for (const data of garbage) expectStrataError(() => codec.decode(data, KINDS), 'DECODE_FAILED');
    });

    it.each<[string, unknown]>([
      ['date', 'not a date'],
      ['date', 1_700_000_000_000],
      ['date', '2024-13-45T99:99:99.999Z'],
      // The length and separators of toISOString's form, a field out of range or a wrong character.
      ['date', '0000-00-00T00:00:00.000Z'],
      ['date', '2024-02-29T25:00:00.000Z'],
      ['date', '2024-02-29T23:59:59.99xZ'],
      ['date', '2024-02-29 23:59:59.999Z'],
      ['date', '2024-02-29T23:59:59.999z'],
      ['bigint', 'twelve'],
      ['bigint', 1.5],
      ['bytes', 'not base64!'],
      ['bytes', 42],
    ])('fails to decode a %s column holding %j: DECODE_FAILED naming the field', (kind, value) => {
      // Written as an undeclared column, read back as a typed one.
      const data = codec.encode({ field: value }, {});
      const err = expectStrataError(() => codec.decode(data, { field: kind as 'date' }), 'DECODE_FAILED');
      expect(err.details?.field).toBe('field');
    });
  });
}
