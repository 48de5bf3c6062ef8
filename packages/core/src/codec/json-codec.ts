import { fromBase64, toBase64, utf8Decode } from '../bytes.js';
import { decodeFailed, typeName } from './failures.js';
import { assertFits, type KindRevivers, type KindRules, kindOf, reviveKinds } from './field-rules.js';
import { isPlainObject } from './json-data.js';
import { jsonDate } from './json-dates.js';
import type { Codec, ColumnKind, ColumnKinds } from './types.js';

/**
 * `json2`: a row is `[{…}]`, dates as ms numbers (see `wrapped`, `jsonDate`). The name is part of
 * every L2 row key, so instances of the version before (`json`: a bare object, ISO date strings)
 * never read these values nor these theirs; a deploy starts with a cold L2. This codec still reads
 * `json`'s text (see `LEGACY_JSON`).
 */
const NAME = 'json2';
/**
 * The name this codec wrote before `json2`, whose values it decodes (an object per row, ISO date
 * strings): the version before's queued write-behind writes and other shapes' pending rows.
 */
export const LEGACY_JSON = 'json';
const STRICT = { nonFinite: false, wellFormed: false } as const;
// JSON.stringify escapes lone surrogates, so text keeps them; only non-finite numbers are lost.
const RULES: KindRules = { json: STRICT, plain: STRICT };
const INTEGER = /^-?\d+$/;

/**
 * The default codec: one JSON object per row, inside an array of one (`[{…}]`, see `wrapped`).
 * Date -> ms since the epoch, bigint -> decimal string, Uint8Array -> base64; `kinds` turns them back
 * on decode. Values of undeclared columns must be plain JSON data; `undefined` fields are left out,
 * as `JSON.stringify` does.
 *
 * @example
 * const text = jsonCodec.encode({ id: 7n, at: new Date(0) }, { id: 'bigint', at: 'date' });
 * // '[{"id":"7","at":0}]'
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
  return wrapped(out);
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
  return wrapped(out);
}

/**
 * A row's object inside an array of one (`[{"id":"p1"}]`): never a bare object, which the `json`
 * format's decoder (the version before) would read when the row has no date, and then take a write
 * it cannot judge (a column its schema does not map) for its own. So every `json2` text is another
 * codec's to it, as a change of codec has always been (see `otherShapes`). Keyed by column name, as
 * before, so that every shape of a table reads every other's rows (a layout by column position
 * would tie a row to its shape's columns: a rolling deploy reads the other shape's queued rows).
 */
function wrapped(out: Record<string, unknown>): string {
  return `[${JSON.stringify(out)}]`;
}

/** Sets `out[field]` to `value` as JSON carries it (nothing for undefined), or throws ENCODE_FAILED. */
function encodeField(out: Record<string, unknown>, field: string, value: unknown, kinds: ColumnKinds): void {
  if (value !== undefined) out[field] = jsonValue(field, value, kindOf(kinds, field));
}

/** `value` (not undefined) as JSON carries it, or throws ENCODE_FAILED. */
function jsonValue(field: string, value: unknown, kind: ColumnKind | undefined): unknown {
  if (value === null) return null;
  assertFits(NAME, field, kind, value, RULES);
  if (kind === 'date') return (value as Date).getTime();
  if (kind === 'bigint') return (value as bigint).toString();
  if (kind === 'bytes') return toBase64(value as Uint8Array);
  return value;
}

function decodeRow(data: string | Uint8Array, kinds: ColumnKinds): Record<string, unknown> {
  const parsed = parse(data);
  if (!Array.isArray(parsed)) return reviveKinds(parsed, kinds, REVIVERS);
  const row: unknown = parsed[0];
  if (parsed.length !== 1 || !isPlainObject(row)) {
    throw decodeFailed(NAME, `expected an array of one JSON object, got ${parsed.length} values`);
  }
  return reviveKinds(row, kinds, REVIVERS);
}

/** One object for every decode (this runs on every L2 hit), not one per row. */
const REVIVERS: KindRevivers = { date: toDate, bigint: toBigInt, bytes: toBytes };

function parse(data: string | Uint8Array): Record<string, unknown> | unknown[] {
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
  if (!isPlainObject(parsed) && !Array.isArray(parsed)) {
    throw decodeFailed(NAME, `expected a JSON object or array, got ${typeName(parsed)}`);
  }
  return parsed;
}

function toDate(value: unknown, field: string): Date {
  return jsonDate(value, field, NAME);
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
