import { type StrataError, schemaError } from '../errors.js';
import { fitsUtf8, isWellFormed } from '../schema/text-limits.js';
import type { CompiledSchema, IdRule } from '../schema/types.js';

/**
 * A primary key value as calls take it: a string (text, uuid) or a number or bigint (integer keys).
 * @example const ids: Id[] = ['p1', 'p2']; await strata.getMany(playerSchema, ids);
 */
export type Id = string | number | bigint;

/**
 * The longest id, in bytes of UTF-8. An id is part of every L2 key and bus message (whose ids may
 * be 1 KiB) and of Postgres' primary key index (a btree entry holds at most ~2.7 kB).
 */
export const MAX_ID_BYTES = 512;

// Strings this short fit MAX_ID_BYTES whatever they hold (a UTF-16 unit is at most 3 bytes).
const FAST_CHARS = Math.floor(MAX_ID_BYTES / 3);
// The form Postgres prints (lowercased here): braces or missing hyphens would key another string.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ANY_CASE_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INTEGER = /^-?\d+$/;
const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

/**
 * Whether `id` may be looked up in L1 as given, before {@link normalizeId}: a non-empty string short
 * enough to fit MAX_ID_BYTES whatever it holds. Every key L1 holds is an id in its normal form
 * (normalized on its way in, or a key read back from Postgres, which holds no lone surrogate), so
 * such a string found there is valid and normal already; one not found there is normalized then.
 * Spares a hot key's get the id checks (`isWellFormed` alone is a runtime call on Node 20).
 */
export function mayBeKey(id: unknown): id is string {
  return typeof id === 'string' && id.length !== 0 && id.length <= FAST_CHARS;
}

/**
 * Turns a caller's id into the primary key's JS type, strictly, so that its cache key is exactly
 * the key's text in Postgres: ids arrive from URLs as strings, so `'42'` is accepted for an integer
 * key, but `'4x'`, `'1.5'`, `''`, `NaN`, an object, a lone surrogate, a NUL or a 513-byte string never reach
 * a tier; a uuid is lowercased. Runs on every get: the common cases return before any regex.
 * @example normalizeId(players, 'p1'); // 'p1'
 * @example normalizeId(counters, '42'); // 42
 */
export function normalizeId(schema: CompiledSchema, id: unknown): Id {
  const rule = schema.idRule;
  switch (rule.kind) {
    case 'string':
      if (
        typeof id === 'string' &&
        id.length !== 0 &&
        id.length <= FAST_CHARS &&
        !id.includes('\u0000') &&
        isWellFormed(id)
      )
        return id;
      return stringId(schema, id);
    case 'integer':
      if (typeof id === 'number' && Number.isInteger(id) && id >= rule.min && id <= rule.max) return id;
      return integerId(schema, rule, id);
    case 'uuid':
      if (typeof id === 'string' && id.length === 36 && UUID.test(id)) return id;
      return uuidId(schema, id);
    case 'bigint':
      return bigintId(schema, id);
  }
}

/** The id as it appears in cache keys. */
export function idKey(id: Id): string {
  return typeof id === 'string' ? id : String(id);
}

function stringId(schema: CompiledSchema, id: unknown): Id {
  // A number is a valid id of a text key: 42 reads row '42', as ids arrive from URLs. NaN and
  // ±Infinity are not: they come from a failed parse (`Number(undefined)`), and their text would
  // key a row 'NaN' that no caller meant (reliability/test/probe-hostile-7.test.ts).
  if (typeof id === 'number') {
    if (!Number.isFinite(id)) throw badId(schema, id, 'must be a string or a finite number');
    return String(id);
  }
  if (typeof id === 'bigint') return String(id);
  if (typeof id !== 'string' || id === '') throw badId(schema, id, 'must be a string');
  if (!isWellFormed(id)) {
    throw badId(schema, id, 'is not well-formed Unicode (a lone surrogate): UTF-8 cannot store it');
  }
  // Postgres text cannot hold it (22021): refused here, before any tier, like the row's text columns.
  if (id.includes('\u0000'))
    throw badId(schema, id, 'has a NUL character (U+0000), which Postgres text cannot store');
  if (!fitsUtf8(id, MAX_ID_BYTES)) throw badId(schema, id, `is longer than ${MAX_ID_BYTES} bytes of UTF-8`);
  return id;
}

function uuidId(schema: CompiledSchema, id: unknown): Id {
  if (typeof id === 'string' && ANY_CASE_UUID.test(id)) return id.toLowerCase();
  throw badId(schema, id, 'must be a UUID (8-4-4-4-12 hex digits)');
}

function integerId(schema: CompiledSchema, rule: Extract<IdRule, { kind: 'integer' }>, id: unknown): Id {
  let n: number | undefined;
  if (typeof id === 'number') n = Number.isInteger(id) ? id : undefined;
  else if (typeof id === 'string') n = INTEGER.test(id) ? Number(id) : undefined;
  else if (typeof id === 'bigint')
    n = id >= BigInt(rule.min) && id <= BigInt(rule.max) ? Number(id) : Infinity;
  if (n === undefined) throw badId(schema, id, 'must be an integer');
  // A digit string past 2^53 rounds, but never back into the range.
  if (n < rule.min || n > rule.max) {
    throw badId(schema, id, `must be an integer from ${rule.min} to ${rule.max}`);
  }
  return n;
}

function bigintId(schema: CompiledSchema, id: unknown): Id {
  let n: bigint | undefined;
  if (typeof id === 'bigint') n = id;
  else if (typeof id === 'number' && Number.isSafeInteger(id)) n = BigInt(id);
  else if (typeof id === 'string' && /^-?\d{1,19}$/.test(id)) n = BigInt(id);
  if (n === undefined) throw badId(schema, id, 'must be an integer');
  if (n < INT8_MIN || n > INT8_MAX) throw badId(schema, id, 'must fit a Postgres bigint');
  return n;
}

/** The error of an id that cannot be this schema's primary key (built only when thrown). */
function badId(schema: CompiledSchema, id: unknown, why: string): StrataError {
  const { key } = schema.primaryKey;
  const missing = id === undefined || id === null || id === '';
  return schemaError('MISSING_PRIMARY_KEY', schema.name, `${key} ${missing ? 'is missing' : why}`, {
    details: { field: key },
  });
}
