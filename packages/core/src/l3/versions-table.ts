import { sql } from 'drizzle-orm';
import { bigint, boolean, pgSchema, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import type { Database } from './database.js';
import { createTableStatements } from './ddl.js';
import { tableModel } from './table-model.js';
import type { Statement } from './transactions.js';

export const VERSIONS_TABLE = '_strata_versions';

const columns = () => ({
  schema: text('schema').notNull(),
  id: text('id').notNull(),
  version: bigint('version', { mode: 'number' }).notNull(),
  /** A tombstone: the last applied write was a delete, so an older set must not bring the row back. */
  deleted: boolean('deleted').notNull(),
  /** The start of the transaction that recorded the version: its writes check for it. */
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

const PRIMARY_KEY = `${VERSIONS_TABLE}_pkey`;

const unqualified = () =>
  pgTable(VERSIONS_TABLE, columns(), (t) => [primaryKey({ name: PRIMARY_KEY, columns: [t.schema, t.id] })]);

/**
 * `_strata_versions` as a Drizzle table: the last version applied per (table, id) by
 * `applyVersioned`, deletes included; the `schema` column holds the table (`versionScope`). migrate() and applyVersioned create it from this definition.
 */
export type VersionsTable = ReturnType<typeof unqualified>;

/**
 * The versions table in `schema` (default: unqualified, i.e. the search path's first schema), beside
 * `_strata_migrations`.
 * @example const table = strataVersionsTable('ops'); await db.select().from(table);
 */
export function strataVersionsTable(schema?: string): VersionsTable {
  // pgSchema('public') throws in Drizzle; unqualified is the same table on a default search path.
  if (schema === undefined || schema === 'public') return unqualified();
  return pgSchema(schema).table(VERSIONS_TABLE, columns(), (t) => [
    primaryKey({ name: PRIMARY_KEY, columns: [t.schema, t.id] }),
  ]) as unknown as VersionsTable;
}

/** CREATE SCHEMA / TABLE IF NOT EXISTS for the versions table. */
export function versionsTableStatements(table: VersionsTable): string[] {
  return createTableStatements(tableModel(table));
}

/** One key's version as applyVersioned records it. */
export interface VersionEntry {
  schema: string;
  /** The id as text; null for a row without its primary key, which Postgres then rejects (23502). */
  id: string | null;
  version: number;
  deleted: boolean;
}

/**
 * Records each entry whose version is newer than the stored one (or that has none) and returns
 * exactly those: an older or equal (redelivered) version changes nothing and comes back absent.
 * ON CONFLICT locks the key's row even when the WHERE says no, so concurrent calls touching the same
 * key queue here, before either writes the data row.
 */
export function recordVersions(
  db: Database,
  table: VersionsTable,
  entries: readonly VersionEntry[],
): Statement<{ schema: string; id: string }[]> {
  const excluded = (name: string) => sql`excluded.${sql.identifier(name)}`;
  return db
    .insert(table)
    .values(
      entries.map((e) => ({
        schema: e.schema,
        id: e.id ?? sql`null`,
        version: e.version,
        deleted: e.deleted,
      })),
    )
    .onConflictDoUpdate({
      target: [table.schema, table.id],
      set: { version: excluded('version'), deleted: excluded('deleted'), updatedAt: sql`now()` },
      setWhere: sql`${table.version} < ${excluded('version')}`,
    })
    .returning({ schema: table.schema, id: table.id });
}
