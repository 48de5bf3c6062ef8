import { schemaError } from '../errors.js';
import type { CompiledColumn, IndexDefinition } from './types.js';

/**
 * Refuses a schema option that names a column the table does not have (INVALID_MODEL naming the
 * option's path in `details.field`): `l3.partitionBy` and each `indexes[i].fields[j]`. Without this
 * check, plain JavaScript (or a cast) passed `defineSchema` and failed only at `migrate()`, with no
 * field named, or never, where drizzle-kit creates the tables. (`fields` keys: compileColumns.)
 * @example checkColumnOptions('events', columns, 'createdAt', [{ fields: ['at'] }]); // throws unless both are keys
 */
export function checkColumnOptions(
  schema: string,
  columns: readonly CompiledColumn[],
  partitionBy: unknown,
  indexes: unknown,
): void {
  if (partitionBy !== undefined) checkColumn(schema, columns, 'l3.partitionBy', partitionBy);
  if (indexes === undefined) return;
  if (!Array.isArray(indexes)) throw refused(schema, 'indexes', 'indexes must be an array');
  for (const [i, index] of (indexes as (IndexDefinition | undefined)[]).entries()) {
    const fields: unknown = index?.fields;
    if (!Array.isArray(fields) || fields.length === 0)
      throw refused(schema, `indexes.${i}.fields`, `indexes.${i}.fields must list at least one column`);
    for (const [j, key] of fields.entries()) checkColumn(schema, columns, `indexes.${i}.fields.${j}`, key);
  }
}

function checkColumn(schema: string, columns: readonly CompiledColumn[], field: string, key: unknown): void {
  if (typeof key === 'string' && columns.some((c) => c.key === key)) return;
  // A SQL name where the key is meant, or the Drizzle column itself: say which key to write.
  const meant = columns.find((c) => c.name === key || c.column === key);
  const hint = meant ? ` (did you mean ${JSON.stringify(meant.key)}?)` : '';
  const named = typeof key === 'string' ? JSON.stringify(key) : `a ${key === null ? 'null' : typeof key}`;
  throw refused(
    schema,
    field,
    `${field} names no column of the table: ${named}${hint}; its columns: ${columns.map((c) => c.key).join(', ')}`,
  );
}

const refused = (schema: string, field: string, why: string) =>
  schemaError('INVALID_MODEL', schema, why, { details: { field } });
