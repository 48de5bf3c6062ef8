import { fromBase64, toBase64, utf8Decode } from '../bytes.js';
import { codeAt } from '../strings.js';
import { decodeFailed, typeName } from './failures.js';
import { assertFits, type KindRevivers, type KindRules, kindOf, reviveKinds } from './field-rules.js';
import { isPlainObject } from './json-data.js';
import type { Codec, ColumnKinds } from './types.js';

const NAME = 'json';
const STRICT = { nonFinite: false, wellFormed: false } as const;
// JSON.stringify escapes lone surrogates, so text keeps them; only non-finite numbers are lost.
const RULES: KindRules = { json: STRICT, plain: STRICT };
// Exactly what Date#toISOString writes (years beyond 9999 get a sign and six digits).
const ISO_DATE = /^(?:\d{4}|[+-]\d{6})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const INTEGER = /^-?\d+$/;

/**
 * The default codec: one JSON object per row. Date -> ISO string, bigint -> decimal string,
 * Uint8Array -> base64; `kinds` turns them back on decode. Values of undeclared columns must be
 * plain JSON data; `undefined` fields are left out, as `JSON.stringify` does.
 *
 * @example
 * const text = jsonCodec.encode({ id: 7n, at: new Date(0) }, { id: 'bigint', at: 'date' });
 * // '{"id":"7","at":"1970-01-01T00:00:00.000Z"}'
 */
export const jsonCodec: Codec = Object.freeze({
  name: NAME,
  format: 'text',
  encode: encodeRow,
  decode: decodeRow,
});

function encodeRow(row: Readonly<Record<string, unknown>>, kinds: ColumnKinds): string {
  // A plain object, which JSON.stringify walks about a third faster than a prototype-less (dictionary)
  // one; but a row with a field named `__proto__` gets one without a prototype, where it stays a key.
  const out: Record<string, unknown> = Object.hasOwn(row, '__proto__') ? Object.create(null) : {};
  for (const field of Object.keys(row)) encodeField(out, field, row[field], kinds);
  return JSON.stringify(out);
}

/**
 * `jsonCodec.encode` of the fields `keys` of `row` (those `in` it), as a copy of them would encode:
 * one object for JSON.stringify instead of a copy and then that object (a write-behind `set` encodes
 * every row it writes). Not for `keys` holding `__proto__` (a copy made by assignment would take
 * that field as its prototype): encode a copy of those.
 */
export function encodeJsonFields(
  row: Readonly<Record<string, unknown>>,
  keys: readonly string[],
  kinds: ColumnKinds,
): string {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < keys.length; i++) {
    const field = keys[i]!;
    if (field in row) encodeField(out, field, row[field], kinds);
  }
  return JSON.stringify(out);
}

/** Sets `out[field]` to `value` as JSON carries it (nothing for undefined), or throws ENCODE_FAILED. */
function encodeField(out: Record<string, unknown>, field: string, value: unknown, kinds: ColumnKinds): void {
  if (value === undefined) return;
  if (value === null) {
    out[field] = null;
    return;
  }
  const kind = kindOf(kinds, field);
  assertFits(NAME, field, kind, value, RULES);
  if (kind === 'date') out[field] = (value as Date).toISOString();
  else if (kind === 'bigint') out[field] = (value as bigint).toString();
  else if (kind === 'bytes') out[field] = toBase64(value as Uint8Array);
  else out[field] = value;
}

function decodeRow(data: string | Uint8Array, kinds: ColumnKinds): Record<string, unknown> {
  return reviveKinds(parse(data), kinds, REVIVERS);
}

/** One object for every decode (this runs on every L2 hit), not one per row. */
const REVIVERS: KindRevivers = { date: toDate, bigint: toBigInt, bytes: toBytes };

function parse(data: string | Uint8Array): Record<string, unknown> {
  let text: string;
  if (typeof data === 'string') text = data;
  else if (data instanceof Uint8Array) {
    // An L2 may hand back the UTF-8 bytes of what was stored as text.
    try {
      text = utf8Decode(data);
    } catch (err) {
      throw decodeFailed(NAME, 'not valid UTF-8', err);
    }
  } else throw decodeFailed(NAME, `expected a string or Uint8Array, got ${typeName(data)}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw decodeFailed(NAME, 'not valid JSON', err);
  }
  if (!isPlainObject(parsed)) throw decodeFailed(NAME, `expected a JSON object, got ${typeName(parsed)}`);
  return parsed;
}

function toDate(value: unknown, field: string): Date {
  if (typeof value !== 'string') {
    throw decodeFailed(NAME, `expected an ISO date string, got ${typeName(value)}`, undefined, field);
  }
  const ms = isoUtcMillis(value);
  if (ms !== undefined) return new Date(ms);
  const date = new Date(value);
  if (!ISO_DATE.test(value) || Number.isNaN(date.getTime())) {
    throw decodeFailed(NAME, 'not an ISO date string', undefined, field);
  }
  return date;
}

/**
 * The time of a `YYYY-MM-DDTHH:MM:SS.mmmZ` string (what Date#toISOString writes for years 100 to
 * 9999) whose fields are in range, by arithmetic; undefined for anything else, which `new Date`
 * and ISO_DATE then judge. Parsing a date string is most of a row's decode after JSON.parse (every
 * L2 hit of a row with a timestamp). The day count by arithmetic rather than a `Date.UTC` call (a
 * builtin): H. Hinnant's days_from_civil, proleptic Gregorian, March-based years so February's
 * leap day comes last, `| 0` flooring (every operand is positive from year 100 on). Both roll a
 * day past the month's end over into the next (checked against `new Date` in json-codec.test.ts).
 * Characters by `codeAt` (see strings.ts: `s.charCodeAt` is a full call in a process with ioredis).
 */
export function isoUtcMillis(s: string): number | undefined {
  if (
    s.length !== 24 ||
    codeAt(s, 4) !== 45 ||
    codeAt(s, 7) !== 45 ||
    codeAt(s, 10) !== 84 ||
    codeAt(s, 13) !== 58 ||
    codeAt(s, 16) !== 58 ||
    codeAt(s, 19) !== 46 ||
    codeAt(s, 23) !== 90
  )
    return undefined;
  // Each a digit when 0 to 9; `>>> 0` turns a character below '0' into a large number.
  const y0 = codeAt(s, 0) - 48;
  const y1 = codeAt(s, 1) - 48;
  const y2 = codeAt(s, 2) - 48;
  const y3 = codeAt(s, 3) - 48;
  const mo0 = codeAt(s, 5) - 48;
  const mo1 = codeAt(s, 6) - 48;
  const d0 = codeAt(s, 8) - 48;
  const d1 = codeAt(s, 9) - 48;
  const h0 = codeAt(s, 11) - 48;
  const h1 = codeAt(s, 12) - 48;
  const mi0 = codeAt(s, 14) - 48;
  const mi1 = codeAt(s, 15) - 48;
  const s0 = codeAt(s, 17) - 48;
  const s1 = codeAt(s, 18) - 48;
  const ms0 = codeAt(s, 20) - 48;
  const ms1 = codeAt(s, 21) - 48;
  const ms2 = codeAt(s, 22) - 48;
  if (
    y0 >>> 0 > 9 ||
    y1 >>> 0 > 9 ||
    y2 >>> 0 > 9 ||
    y3 >>> 0 > 9 ||
    mo0 >>> 0 > 9 ||
    mo1 >>> 0 > 9 ||
    d0 >>> 0 > 9 ||
    d1 >>> 0 > 9 ||
    h0 >>> 0 > 9 ||
    h1 >>> 0 > 9 ||
    mi0 >>> 0 > 9 ||
    mi1 >>> 0 > 9 ||
    s0 >>> 0 > 9 ||
    s1 >>> 0 > 9 ||
    ms0 >>> 0 > 9 ||
    ms1 >>> 0 > 9 ||
    ms2 >>> 0 > 9
  )
    return undefined;
  const year = y0 * 1000 + y1 * 100 + y2 * 10 + y3;
  const month = mo0 * 10 + mo1;
  const day = d0 * 10 + d1;
  const hour = h0 * 10 + h1;
  const minute = mi0 * 10 + mi1;
  const second = s0 * 10 + s1;
  // Years below 100: Date.UTC would read them as 1900 + year.
  if (year < 100 || month < 1 || month > 12 || day < 1 || day > 31) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const y = month <= 2 ? year - 1 : year;
  const dayOfYear = (((month > 2 ? month - 3 : month + 9) * 153 + 2) / 5) | 0;
  const days = y * 365 + ((y / 4) | 0) - ((y / 100) | 0) + ((y / 400) | 0) + dayOfYear + day - 719_469;
  return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + ms0 * 100 + ms1 * 10 + ms2;
}

function toBigInt(value: unknown, field: string): bigint {
  if (typeof value !== 'string') {
    throw decodeFailed(NAME, `expected a decimal integer string, got ${typeName(value)}`, undefined, field);
  }
  if (!INTEGER.test(value)) throw decodeFailed(NAME, 'not a decimal integer string', undefined, field);
  return BigInt(value);
}

function toBytes(value: unknown, field: string): Uint8Array {
  if (typeof value !== 'string') {
    throw decodeFailed(NAME, `expected a base64 string, got ${typeName(value)}`, undefined, field);
  }
  try {
    return fromBase64(value);
  } catch (err) {
    throw decodeFailed(NAME, 'not valid base64', err, field);
  }
}
