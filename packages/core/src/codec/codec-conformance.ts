import { describe, expect, it } from 'vitest';
import { describeCodecErrorConformance } from './codec-conformance-errors.js';
import { ALL_BYTES, bytesToBase64, fullRow, KINDS } from './conformance-fixtures.js';
import type { Codec, ColumnKinds } from './types.js';

/**
 * The behaviour every {@link Codec} must show, written once and run against each implementation.
 *
 * @example describeCodecConformance('jsonCodec', jsonCodec);
 */
export function describeCodecConformance(name: string, codec: Codec): void {
  const roundTrip = (row: Readonly<Record<string, unknown>>, kinds: ColumnKinds = KINDS) =>
    codec.decode(codec.encode(row, kinds), kinds);

  describe(`${name} (codec conformance)`, () => {
    it('produces the declared format', () => {
      const data = codec.encode(fullRow(), KINDS);
      if (codec.format === 'text') expect(typeof data).toBe('string');
      else expect(data).toBeInstanceOf(Uint8Array);
      expect(codec.name).toMatch(/^[a-z0-9-]+$/);
    });

    it('round trips a row with every kind, restoring exact types', () => {
      const row = fullRow();
      const back = roundTrip(row);
      expect(back).toEqual(row);
      expect(typeof back.id).toBe('bigint');
      expect(back.createdAt).toBeInstanceOf(Date);
      expect((back.createdAt as Date).getTime()).toBe((row.createdAt as Date).getTime());
      const avatar = back.avatar as Uint8Array;
      expect(Object.getPrototypeOf(avatar)).toBe(Uint8Array.prototype);
      expect(avatar.byteOffset).toBe(0);
      expect(avatar.buffer.byteLength).toBe(256);
      expect(back.meta).toStrictEqual(row.meta);
      expect(Object.keys(back)).toEqual(Object.keys(row));
    });

    it('keeps null in every column, including typed ones', () => {
      const row = Object.fromEntries(Object.keys(KINDS).map((k) => [k, null]));
      expect(roundTrip(row)).toStrictEqual(row);
    });

    it('keeps edge strings: empty, NUL, emoji, combining marks, BOM, long', () => {
      for (const text of [
        '',
        '\u0000',
        '\u0000a\u0000',
        '👨‍👩‍👧 e\u0301',
        '\uFEFFlead',
        'x'.repeat(100_000),
      ]) {
        expect(roundTrip({ name: text, meta: { text } })).toStrictEqual({ name: text, meta: { text } });
      }
    });

    it('keeps large and negative integers, bigint and number alike', () => {
      for (const id of [0n, 1n, -1n, 255n, -(2n ** 63n), 2n ** 63n - 1n, 2n ** 53n + 1n]) {
        expect(roundTrip({ id }).id).toBe(id);
      }
      for (const score of [
        0,
        -1,
        2 ** 31,
        -(2 ** 31) - 1,
        2 ** 32,
        2 ** 60,
        Number.MIN_SAFE_INTEGER,
        0.1,
        -1e-300,
      ]) {
        expect(roundTrip({ score, meta: [score] })).toStrictEqual({ score, meta: [score] });
      }
    });

    it('keeps bytes of any length, encoding only the bytes a view covers', () => {
      for (const avatar of [
        new Uint8Array(),
        new Uint8Array([0]),
        ALL_BYTES,
        new Uint8Array(70_000).fill(7),
      ]) {
        expect(roundTrip({ avatar }).avatar).toEqual(avatar);
      }
      const view = ALL_BYTES.subarray(10, 13);
      expect(roundTrip({ avatar: view }).avatar).toEqual(new Uint8Array([10, 11, 12]));
    });

    it('keeps dates to the millisecond across the whole Date range', () => {
      for (const ms of [0, -1, 1, -62_198_755_200_000, 253_402_300_799_999, 8.64e15, -8.64e15]) {
        const back = roundTrip({ createdAt: new Date(ms) }).createdAt;
        expect(back).toBeInstanceOf(Date);
        expect((back as Date).getTime()).toBe(ms);
      }
    });

    it('keeps dates at the edges of their text form (years 1 to 9999, leap days, whole milliseconds)', () => {
      // A codec may read the common text form of a date by hand (the JSON codec does): years below
      // 100 (which Date.UTC would read as 1900 + year), 100 and 9999 bound that form; leap days and
      // the first and last millisecond of a second are where arithmetic slips.
      const utc = (year: number, month: number, day: number, h = 0, m = 0, s = 0, ms = 0) => {
        const date = new Date(Date.UTC(2000, month - 1, day, h, m, s, ms));
        date.setUTCFullYear(year);
        return date.getTime();
      };
      for (const ms of [
        utc(1, 1, 1),
        utc(1, 12, 31, 23, 59, 59, 999),
        utc(99, 12, 31, 23, 59, 59, 999),
        utc(100, 1, 1),
        utc(1970, 1, 1),
        utc(1969, 12, 31, 23, 59, 59, 999),
        utc(2000, 2, 29, 12, 0, 0, 0),
        utc(2024, 2, 29, 23, 59, 59, 999),
        utc(1900, 3, 1),
        utc(2100, 2, 28, 0, 0, 0, 1),
        utc(9999, 12, 31, 23, 59, 59, 999),
        utc(10_000, 1, 1),
      ]) {
        const back = roundTrip({ createdAt: new Date(ms) }).createdAt;
        expect(back).toBeInstanceOf(Date);
        expect((back as Date).toISOString()).toBe(new Date(ms).toISOString());
      }
    });

    it('passes columns missing from kinds through as JSON data', () => {
      const row = {
        extra: 'x',
        count: 3,
        tags: ['a', 'b'],
        obj: { at: '2024-01-01T00:00:00.000Z' },
        none: null,
      };
      expect(roundTrip(row, {})).toStrictEqual(row);
      expect(roundTrip(row)).toStrictEqual(row);
    });

    it('leaves out undefined fields and keeps the given key order', () => {
      const row = { meta: { b: 1, a: 2, gone: undefined }, name: 'n', skipped: undefined, id: 1n };
      const back = roundTrip(row);
      expect(Object.keys(back)).toEqual(['meta', 'name', 'id']);
      expect(Object.keys(back.meta as object)).toEqual(['b', 'a']);
    });

    it('decodes only the kinds it is told about, and ignores declared columns that are absent', () => {
      const back = roundTrip({ name: 'only' });
      expect(back).toStrictEqual({ name: 'only' });
    });

    it('is deterministic, and reads its output back through the other transport form', () => {
      const a = codec.encode(fullRow(), KINDS);
      const b = codec.encode(fullRow(), KINDS);
      expect(b).toEqual(a);
      const swapped = typeof a === 'string' ? new TextEncoder().encode(a) : bytesToBase64(a);
      expect(codec.decode(swapped, KINDS)).toEqual(fullRow());
    });

    it('neither mutates the input row nor shares buffers with it', () => {
      const row = fullRow();
      const snapshot = fullRow();
      const back = roundTrip(row);
      expect(row).toStrictEqual(snapshot);
      (back.avatar as Uint8Array)[0] = 99;
      expect((row.avatar as Uint8Array)[0]).toBe(0);
    });
  });

  describeCodecErrorConformance(name, codec);
}
