import type { CompiledSchema } from '../schema/types.js';
import { invalidQuery, preview, quoted } from './invalid.js';

// SQL name -> JS key, built once per schema. A Map, so `__proto__` or `constructor` match nothing.
const sqlNames = new WeakMap<CompiledSchema, ReadonlyMap<string, string>>();

function byName(schema: CompiledSchema): ReadonlyMap<string, string> {
  let names = sqlNames.get(schema);
  if (!names) {
    names = new Map(schema.columns.map((c) => [c.name, c.key]));
    sqlNames.set(schema, names);
  }
  return names;
}

/**
 * The JS key of a column named by its JS key or its SQL name (the JS key wins when one column's key
 * is another's SQL name). Exact match only: no trimming, case folding or quote stripping — a name
 * that is not exactly a column is refused, and only the resolved key ever reaches SQL (as a Drizzle
 * column, quoted by Drizzle).
 * @example resolveColumn(players, 'created_at'); // 'createdAt'
 */
function resolveColumn(schema: CompiledSchema, name: string): string | undefined {
  return schema.columnsByKey.get(name)?.key ?? byName(schema).get(name);
}

/**
 * Resolves a list of column names to JS keys, de-duplicated in first-seen order. An unknown name
 * (or a non-string) is INVALID_QUERY with `details.field` set to `field` and a truncated copy of
 * the value in `details.value`.
 */
export function resolveColumns(
  schema: CompiledSchema,
  names: unknown,
  field: 'orderBy' | 'fields',
): string[] {
  if (names === undefined) return [];
  if (!Array.isArray(names)) throw invalidQuery(field, `${field} must be an array of column names`);
  const keys: string[] = [];
  for (const name of names as unknown[]) {
    const key = typeof name === 'string' ? resolveColumn(schema, name) : undefined;
    if (key === undefined) {
      throw invalidQuery(field, `unknown column ${quoted(name)} in ${field} of schema ${schema.name}`, {
        schema: schema.name,
        value: preview(name),
      });
    }
    if (!keys.includes(key)) keys.push(key);
  }
  return keys;
}
