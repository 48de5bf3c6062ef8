import { toHex } from '../bytes.js';
import { invalidQuery } from './invalid.js';

/** A JSON-ready encoding of a parameter, tagged with its type. */
type Canonical = string | number | boolean | null | Canonical[];

const MAX_DEPTH = 64;

/**
 * A value as tagged JSON, so values that bind differently encode differently: `1`, `'1'` and `1n`
 * are `['n','1']`, `['s','1']`, `['i','1']`. Dates by ISO time, bytes by hex, object keys sorted
 * (insertion order never matters to jsonb); undefined object properties are dropped (as JSON
 * drops them). An object with `toPostgres()` (node-postgres binds what it returns) or `toJSON()`
 * (every driver binds a non-array object as its JSON) encodes what that returns; other objects
 * (e.g. a Drizzle placeholder in a condition) encode their class name and own properties.
 * @example canonicalValue({ b: 1n, a: new Date(0) });
 * // ['o', 'Object', [['a', ['d', '1970-01-01T00:00:00.000Z']], ['b', ['i', '1']]]]
 */
export function canonicalValue(value: unknown): Canonical {
  return encode(value, 0, new Set());
}

function encode(value: unknown, depth: number, path: Set<object>): Canonical {
  if (depth > MAX_DEPTH) throw invalidQuery('where', `a where parameter is nested deeper than ${MAX_DEPTH}`);
  switch (typeof value) {
    case 'string':
      return ['s', value];
    case 'number':
      // String() so NaN and ±Infinity stay distinct (JSON would make them null); -0 binds as 0.
      return ['n', String(value)];
    case 'bigint':
      return ['i', value.toString()];
    case 'boolean':
      return ['b', value];
    case 'undefined':
      return ['u'];
    case 'object':
      break;
    default:
      throw invalidQuery('where', `a ${typeof value} cannot be a where parameter`);
  }
  if (value === null) return ['null'];
  if (value instanceof Date) return ['d', Number.isNaN(value.getTime()) ? 'invalid' : value.toISOString()];
  if (value instanceof Uint8Array) return ['x', toHex(value)];
  if (path.has(value)) throw invalidQuery('where', 'a where parameter contains a cycle');
  path.add(value);
  let out: Canonical;
  const bound = boundAs(value);
  if (bound) {
    // Bound by what it turns into, not by its own properties (private state has none): two Money
    // objects of other amounts must not share a cached list.
    out = [bound[0], encode(bound[1], depth + 1, path)];
  } else if (Array.isArray(value)) {
    out = ['a', value.map((item: unknown) => encode(item, depth + 1, path))];
  } else {
    const entries = Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, item]): Canonical => [key, encode(item, depth + 1, path)]);
    const proto: unknown = Object.getPrototypeOf(value);
    const name =
      proto === null ? 'null' : ((proto as { constructor?: { name?: unknown } }).constructor?.name ?? '');
    out = ['o', typeof name === 'string' ? name : '', entries];
  }
  path.delete(value);
  return out;
}

/**
 * What a driver binds in place of `value`, tagged by how: `toPostgres()` (node-postgres) or
 * `toJSON()`. Arrays have neither (drivers bind them element by element).
 */
function boundAs(value: object): [string, unknown] | undefined {
  const { toPostgres, toJSON } = value as { toPostgres?: unknown; toJSON?: unknown };
  try {
    if (typeof toPostgres === 'function') return ['P', toPostgres.call(value, (v: unknown) => v)];
    if (typeof toJSON === 'function') return ['J', toJSON.call(value, '')];
  } catch (err) {
    throw invalidQuery('where', String(err));
  }
}
