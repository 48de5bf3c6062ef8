import { entityKind } from 'drizzle-orm';
import { isPlainObject } from '../codec/json-data.js';
import type { StrataError } from '../errors.js';
import { invalidQuery, preview } from './invalid.js';

/** Deeper than any real jsonb argument; stops a hostile structure before the driver recurses on it. */
const MAX_DEPTH = 32;

type Context = 'top' | 'array' | 'json';

function failure(position: number, path: string, message: string): StrataError {
  return invalidQuery('where', `where: argument $${position}${path} ${message}`, { argument: position });
}

function isDrizzleEntity(value: object): boolean {
  const ctor = (value as { constructor?: unknown }).constructor;
  return typeof ctor === 'function' && entityKind in ctor;
}

/**
 * Checks that a WHERE argument is data a Postgres driver binds as one parameter: string, number,
 * bigint, boolean, null, a valid Date, Uint8Array, an array of those (`= ANY($1)`), or a plain
 * object / array of JSON values (jsonb). Refuses what would bind surprisingly or not at all:
 * undefined (write null), functions, symbols, Map/Set/class instances, cycles, and Drizzle
 * objects — a Drizzle `SQL` as a parameter would be rendered as SQL, not bound.
 */
export function checkWhereArg(value: unknown, position: number): void {
  check(value, position, '', 'top', 0, new Set());
}

function check(
  value: unknown,
  position: number,
  path: string,
  context: Context,
  depth: number,
  seen: Set<object>,
): void {
  if (depth > MAX_DEPTH) throw failure(position, path, `is nested deeper than ${MAX_DEPTH} levels`);
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (context === 'json' && !Number.isFinite(value))
        throw failure(position, path, 'is not a finite number (JSON has none)');
      return;
    case 'bigint':
      if (context === 'json')
        throw failure(position, path, 'is a bigint inside a JSON value (JSON has none)');
      return;
    case 'undefined':
      if (context === 'json') return; // JSON drops it, as JSON.stringify does
      throw failure(position, path, 'is undefined: use null for SQL NULL');
    case 'object':
      break;
    default:
      throw failure(position, path, `is a ${typeof value}, which cannot be a query parameter`);
  }
  if (value === null) return;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw failure(position, path, 'is an invalid Date');
    return;
  }
  if (value instanceof Uint8Array) {
    if (context === 'json') throw failure(position, path, 'is bytes inside a JSON value');
    return;
  }
  if (isDrizzleEntity(value)) {
    throw failure(position, path, 'is a Drizzle object: use .where(sql`…`), not arguments');
  }
  if (seen.has(value)) throw failure(position, path, 'contains a cycle');
  seen.add(value);
  if (Array.isArray(value)) {
    const inner: Context = context === 'json' ? 'json' : 'array';
    value.forEach((item, i) => {
      check(item, position, `${path}[${i}]`, inner, depth + 1, seen);
    });
  } else if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      check(item, position, `${path}[${JSON.stringify(preview(key))}]`, 'json', depth + 1, seen);
    }
  } else {
    throw failure(position, path, 'is not a plain object, array, Date or Uint8Array');
  }
  seen.delete(value);
}
