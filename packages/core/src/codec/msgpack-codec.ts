import { decode, Encoder } from '@msgpack/msgpack';
import { fromBase64 } from '../bytes.js';
import { decodeFailed, encodeFailed, typeName } from './failures.js';
import { assertFits, type KindRevivers, type KindRules, kindOf, reviveKinds } from './field-rules.js';
import { isPlainObject, MAX_JSON_DEPTH } from './json-data.js';
import type { Codec, ColumnKinds } from './types.js';

const NAME = 'msgpack';
// Strings travel as UTF-8, which cannot carry a lone surrogate. A float64 keeps NaN and ±Infinity,
// so plain number columns may hold them; jsonb cannot, so json columns may not.
const RULES: KindRules = {
  json: { nonFinite: false, wellFormed: true },
  plain: { nonFinite: true, wellFormed: true },
};
// Past these the library's int64/uint64 writers would silently wrap around.
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;
const ENCODER_OPTIONS = {
  useBigInt64: true,
  // Nested `undefined` properties are dropped, as in JSON, rather than turned into null.
  ignoreUndefined: true,
  // The row itself is one level: field values were already checked to MAX_JSON_DEPTH.
  maxDepth: MAX_JSON_DEPTH + 1,
} as const;
const DECODER_OPTIONS = { useBigInt64: true } as const;

/**
 * MessagePack, one map per row: smaller and faster than JSON, with Date (timestamp extension),
 * 64-bit bigint and Uint8Array carried natively. Values of undeclared columns must be plain
 * JSON-like data; NaN and ±Infinity are kept in non-jsonb columns.
 *
 * @example
 * const bytes = msgpackCodec.encode({ id: 7n, avatar: new Uint8Array([1]) }, kinds);
 * msgpackCodec.decode(bytes, kinds); // { id: 7n, avatar: Uint8Array [1] }
 */
export const msgpackCodec: Codec = Object.freeze({
  name: NAME,
  format: 'binary',
  encode: encodeRow,
  decode: decodeRow,
});

function encodeRow(row: Readonly<Record<string, unknown>>, kinds: ColumnKinds): Uint8Array {
  // No prototype, so a field named `__proto__` stays a plain key.
  const out = Object.create(null) as Record<string, unknown>;
  for (const field of Object.keys(row)) {
    const value = row[field];
    if (value === undefined) continue;
    if (value !== null) {
      const kind = kindOf(kinds, field);
      assertFits(NAME, field, kind, value, RULES);
      if (kind === 'bigint' && ((value as bigint) < INT64_MIN || (value as bigint) > UINT64_MAX)) {
        throw encodeFailed(NAME, field, 'bigint does not fit in 64 bits');
      }
    }
    out[field] = value;
  }
  try {
    // A fresh encoder per row: a shared one would keep its largest buffer alive for good.
    return new Encoder(ENCODER_OPTIONS).encode(out);
  } catch (err) {
    // Unreachable for checked values short of the format's 4 GiB limits.
    throw encodeFailed(NAME, '(row)', 'MessagePack encoder failed', err);
  }
}

function decodeRow(data: string | Uint8Array, kinds: ColumnKinds): Record<string, unknown> {
  return reviveKinds(parse(data), kinds, REVIVERS);
}

/** One object for every decode (this runs on every L2 hit), not one per row. */
const REVIVERS: KindRevivers = { date: toDate, bigint: toBigInt, bytes: toBytes };

function parse(data: string | Uint8Array): Record<string, unknown> {
  let bytes: Uint8Array;
  if (data instanceof Uint8Array) bytes = data;
  else if (typeof data === 'string') {
    // What an L2 over a text-only transport stores: the base64 of the bytes.
    try {
      bytes = fromBase64(data);
    } catch (err) {
      throw decodeFailed(NAME, 'text input is not valid base64', err);
    }
  } else throw decodeFailed(NAME, `expected a Uint8Array or base64 string, got ${typeName(data)}`);
  let decoded: unknown;
  try {
    decoded = decode(bytes, DECODER_OPTIONS);
  } catch (err) {
    throw decodeFailed(NAME, 'not valid MessagePack', err);
  }
  if (!isPlainObject(decoded)) throw decodeFailed(NAME, `expected a map, got ${typeName(decoded)}`);
  return decoded;
}

function toDate(value: unknown, field: string): Date {
  if (!(value instanceof Date)) {
    throw decodeFailed(NAME, `expected a timestamp, got ${typeName(value)}`, undefined, field);
  }
  if (Number.isNaN(value.getTime()))
    throw decodeFailed(NAME, 'timestamp out of Date range', undefined, field);
  return value;
}

function toBigInt(value: unknown, field: string): bigint {
  if (typeof value === 'bigint') return value;
  // Another writer may have stored a small integer compactly.
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  throw decodeFailed(NAME, `expected an integer, got ${typeName(value)}`, undefined, field);
}

function toBytes(value: unknown, field: string): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw decodeFailed(NAME, `expected binary, got ${typeName(value)}`, undefined, field);
  }
  // The decoder returns views into the input buffer: copy, so the row neither pins nor aliases it.
  return new Uint8Array(value);
}
