import { kindOf } from './field-rules.js';
import type { ColumnKinds } from './types.js';

/**
 * What `jsonCodec.decode(jsonCodec.encode(row))` gives for the fields `keys` of `row` (in that
 * order, those it has and that are not undefined), built from the row rather than parsed back out of
 * its text: the same instant in a new Date, a bigint itself, bytes copied, JSON data copied through
 * its own text, -0 as 0 (JSON text has no -0), anything else as it is. Only for a row the codec has
 * encoded already (every value fits its column's kind): a write-behind `set` makes L1's copy of its
 * row this way instead of parsing its L2 string again. Undefined for a row with an own `__proto__`
 * field (the codec's object for it has no prototype): decode that one.
 *
 * @example
 * jsonRoundTrip({ id: 'a', at: new Date(0), n: -0 }, ['id', 'at', 'n'], { at: 'date' });
 * // { id: 'a', at: new Date(0), n: 0 }
 */
export function jsonRoundTrip(
  row: Readonly<Record<string, unknown>>,
  keys: readonly string[],
  kinds: ColumnKinds,
): Record<string, unknown> | undefined {
  if (Object.hasOwn(row, '__proto__')) return undefined;
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    if (!(key in row)) continue;
    const value = row[key];
    if (value === undefined) continue;
    if (value === null) out[key] = null;
    else if (typeof value === 'object') {
      const kind = kindOf(kinds, key);
      out[key] =
        kind === 'date'
          ? new Date((value as Date).getTime())
          : kind === 'bytes'
            ? new Uint8Array(value as Uint8Array)
            : JSON.parse(JSON.stringify(value));
    } else out[key] = value === 0 ? 0 : value;
  }
  return out;
}
