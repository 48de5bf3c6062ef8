import { StrataError } from '../errors.js';
import type { CompiledSchema } from '../schema/types.js';

export type Id = string | number | bigint;

/**
 * Turns a caller's id into the primary key's JS type, strictly: ids arrive from URLs as strings, so
 * `'42'` is accepted for an integer key, but `'4x'`, `''`, `NaN` or an object never reach a tier.
 */
export function normalizeId(schema: CompiledSchema, id: unknown): Id {
  const pk = schema.primaryKey;
  if (id === undefined || id === null || id === '') throw badId(schema, `${pk.key} is missing`);
  const type = pk.column.dataType;
  if (type === 'string') {
    if (typeof id === 'string') return id;
    if (typeof id === 'number' || typeof id === 'bigint') return String(id);
    throw badId(schema, `${pk.key} must be a string`);
  }
  if (type === 'bigint') {
    if (typeof id === 'bigint') return id;
    if (
      (typeof id === 'number' && Number.isSafeInteger(id)) ||
      (typeof id === 'string' && /^-?\d{1,19}$/.test(id))
    ) {
      return BigInt(id);
    }
    throw badId(schema, `${pk.key} must be an integer`);
  }
  if (type === 'number') {
    const n = typeof id === 'string' && /^-?\d+(\.\d+)?$/.test(id) ? Number(id) : id;
    if (typeof n === 'number' && Number.isFinite(n)) return n;
    if (
      typeof n === 'bigint' &&
      n >= BigInt(Number.MIN_SAFE_INTEGER) &&
      n <= BigInt(Number.MAX_SAFE_INTEGER)
    ) {
      return Number(n);
    }
    throw badId(schema, `${pk.key} must be a number`);
  }
  if (typeof id === 'string' || typeof id === 'number' || typeof id === 'bigint') return id;
  throw badId(schema, `${pk.key} has an unsupported type`);
}

/** The id as it appears in cache keys. */
export function idKey(id: Id): string {
  return typeof id === 'string' ? id : String(id);
}

/** The error of an id that cannot be this schema's primary key (built only when thrown). */
function badId(schema: CompiledSchema, why: string): StrataError {
  return new StrataError('MISSING_PRIMARY_KEY', `schema ${schema.name}: ${why}`, {
    details: { schema: schema.name, field: schema.primaryKey.key },
  });
}
