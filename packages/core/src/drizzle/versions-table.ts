import { type SQL, sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  getTableConfig,
  jsonb,
  pgSchema,
  pgTable,
  primaryKey,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';
import { EPOCH_SPAN } from '../l3/epoch-span.js';
import type { CompiledSchema } from '../schema/types.js';
import type { Database } from './database.js';
import { qualifiedName, quoteIdentifier } from './identifiers.js';
import type { Statement } from './transactions.js';

const VERSIONS_TABLE = '_strata_versions';

/** The id of a schema's epoch row: no key can be empty (ids are refused when they are). */
const EPOCH_ID = '';

const columns = () => ({
  /** The schema's identity (its qualified table). */
  schema: text('schema').notNull(),
  /** The key: the primary key as Postgres prints it (`pk::text`). */
  id: text('id').notNull(),
  version: bigint('version', { mode: 'number' }).notNull(),
  /** The last write was a delete: an older set must not bring the row back. */
  deleted: boolean('deleted').notNull(),
  /** The start of the transaction that wrote the version: a batch's row writes check for it. */
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  /**
   * Per column (SQL name) the version that last set it, where partial sets left some out: '' holds
   * the version of the columns not named. Null: every column was last set at `version` or before.
   * A write refused as older applies the columns no later write set (drizzle/merge-refused.ts).
   */
  cols: jsonb('cols'),
});

const PRIMARY_KEY = `${VERSIONS_TABLE}_pkey`;

/** A table of Strata's own beside `_strata_versions` (in `migrationsSchema`): its schema, and its name as SQL says it. */
export function besideVersions(
  versions: VersionsTable,
  table: string,
): { schema: string | undefined; name: string } {
  const schema = getTableConfig(versions).schema;
  return { schema, name: qualifiedName(schema, table) };
}

/** `statements`, after the CREATE SCHEMA IF NOT EXISTS they need in a schema of their own. */
export function withSchemaCreated(schema: string | undefined, statements: string[]): string[] {
  return schema === undefined
    ? statements
    : [`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`, ...statements];
}

const unqualified = () =>
  pgTable(VERSIONS_TABLE, columns(), (t) => [primaryKey({ name: PRIMARY_KEY, columns: [t.schema, t.id] })]);

/**
 * `_strata_versions` as a Drizzle table: per schema identity and key, the version of the last write
 * (deletes included), bumped in the same statement or transaction as the row. It is what orders
 * every write of a key, whichever instance made it and whatever its clock says; a cached copy
 * carries it, and no cache takes an older copy over a newer one. migrate() creates it, and
 * `write` does when it is missing.
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

/**
 * CREATE SCHEMA / TABLE IF NOT EXISTS for the versions table. Written out rather than planned from
 * `columns()` (createTableStatements), because a write creates the table when it is missing and an L3
 * without migrate() must not carry the DDL planner for it; l3-ddl.test.ts checks that both agree.
 */
export function versionsTableStatements(table: VersionsTable): string[] {
  const schema = getTableConfig(table).schema;
  const create =
    `CREATE TABLE IF NOT EXISTS ${qualifiedName(schema, VERSIONS_TABLE)} ("schema" text NOT NULL, ` +
    '"id" text NOT NULL, "version" bigint NOT NULL, "deleted" boolean NOT NULL, ' +
    '"updated_at" timestamp with time zone NOT NULL DEFAULT (now()), "cols" jsonb, ' +
    `CONSTRAINT "${PRIMARY_KEY}" PRIMARY KEY ("schema", "id"))`;
  return schema === undefined ? [create] : [`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`, create];
}

/** The columns added since the table was first made, for a table made before them (undefined_column). */
export function versionsColumnsStatements(table: VersionsTable): string[] {
  const name = qualifiedName(getTableConfig(table).schema, VERSIONS_TABLE);
  return [`ALTER TABLE ${name} ADD COLUMN IF NOT EXISTS "cols" jsonb`];
}

/**
 * The version of each row a SELECT reads, as a column: a correlated lookup rather than a join, so
 * a search's where text keeps naming the table's own columns without ambiguity.
 */
export function versionOfRow(versions: VersionsTable, schema: CompiledSchema): SQL<number> {
  // Qualified by hand: inside the subquery a bare "id" would be the versions table's own column.
  const pk = sql`${schema.table}.${sql.identifier(schema.primaryKey.name)}`;
  return sql<number>`coalesce((select ${versions.version} from ${versions} where ${versions.schema} = ${schema.identity} and ${versions.id} = ${pk}::text), 0)`.mapWith(
    Number,
  );
}

/** The epoch of the highest version stored for the schema (0 where none). */
export function highestEpoch(versions: VersionsTable, schema: CompiledSchema): SQL {
  return sql`(select coalesce(max(${versions.version}), 0) from ${versions} where ${versions.schema} = ${schema.identity} and ${versions.id} <> ${EPOCH_ID}) / ${EPOCH_SPAN}::bigint`;
}

/**
 * Starts the schema's next epoch of Redis-ordered versions: past the last one started and past every
 * version stored for the schema (a schema that was write-through before keeps small versions).
 * `columns`: a value the reply carries too (the table's columns: see `TableColumns`).
 */
export function nextEpochStatement(
  db: Database,
  versions: VersionsTable,
  schema: CompiledSchema,
  columns: SQL<unknown> = sql`null`,
): Statement<{ version: number; columns: unknown }[]> {
  const highest = highestEpoch(versions, schema);
  return db
    .insert(versions)
    .values({ schema: schema.identity, id: EPOCH_ID, version: sql`${highest} + 1`, deleted: false })
    .onConflictDoUpdate({
      target: [versions.schema, versions.id],
      set: { version: sql`greatest(${versions.version}, ${highest}) + 1`, updatedAt: sql`now()` },
    })
    .returning({ version: versions.version, columns });
}
