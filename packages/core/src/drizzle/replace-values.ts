import { and, eq, isNull, type SQL } from 'drizzle-orm';
import type { ValueReplacement } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';
import type { Database } from './database.js';
import type { Statement } from './transactions.js';

/**
 * One change's `UPDATE … SET <set> WHERE pk = $id AND <col> = $expected … RETURNING pk`: values are
 * bound parameters, columns come from the schema (an unknown key is refused before any SQL).
 */
export function replaceStatement(
  db: Database,
  schema: CompiledSchema,
  change: ValueReplacement,
): Statement<{ id: unknown }[]> {
  const pk = schema.primaryKey;
  const column = (key: string) => {
    const found = schema.columns.find((c) => c.key === key);
    if (!found || found === pk) throw new TypeError(`replaceValues: ${key} is not a settable column`);
    return found.column;
  };
  const conditions: SQL[] = [eq(pk.column, change.id)];
  for (const [key, value] of Object.entries(change.expect)) {
    conditions.push(value === null ? isNull(column(key)) : eq(column(key), value));
  }
  const set: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(change.set)) {
    column(key);
    set[key] = value;
  }
  return db
    .update(schema.table)
    .set(set)
    .where(and(...conditions))
    .returning({ id: pk.column }) as unknown as Statement<{ id: unknown }[]>;
}
