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
  indexes: readonly IndexDefinition[] | undefined,
): void {
  const refuse = (field: string, why: string) => {
    throw schemaError('INVALID_MODEL', schema, `${field} ${why}`, { details: { field } });
  };
  const check = (field: string, key: unknown) => {
    if (columns.some((c) => c.key === key)) return;
    // Its SQL name where the key is meant (created_at for createdAt): say which key to write.
    const meant = columns.find((c) => c.name === key);
    refuse(
      field,
      `names no column of the table: ${String(key)}${meant ? ` (did you mean ${meant.key}?)` : ''}; ` +
        `its columns: ${columns.map((c) => c.key).join(', ')}`,
    );
  };
  if (partitionBy !== undefined) check('l3.partitionBy', partitionBy);
  // Object.entries, not .entries(): plain JavaScript may pass anything, and gets INVALID_MODEL for it.
  for (const [i, index] of Object.entries(indexes ?? [])) {
    const fields = Object.entries(index?.fields ?? []);
    if (!fields.length) refuse(`indexes.${i}.fields`, 'must list at least one column');
    for (const [j, key] of fields) check(`indexes.${i}.fields.${j}`, key);
  }
}
