import type { BuildColumns } from 'drizzle-orm';
import { asc, getTableName, type SQL, sql } from 'drizzle-orm';
import type { PgTableWithColumns } from 'drizzle-orm/pg-core';
import { getTableConfig, integer, jsonb, pgSchema, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { sqlStateOf } from '../l3/pg-errors.js';
import type { MigrationRecord } from '../l3/types.js';
import type { Database } from './database.js';
import { driverError } from './driver-error.js';
import { qualifiedName } from './identifiers.js';
import { rowsOf } from './rows.js';
import type { Statement } from './transactions.js';

const MIGRATIONS_TABLE = '_strata_migrations';

const columns = () => ({
  // No serial: drizzle-kit push diffs every sequence of a schema, whatever its tablesFilter says, and
  // would DROP a serial's. Records are numbered under the DDL lock instead (nextMigrationRecordId).
  id: integer('id').primaryKey(),
  schema: text('schema'),
  fileName: text('file_name').notNull(),
  checksum: text('checksum').notNull(),
  appliedAt: timestamp('applied_at', { withTimezone: true, mode: 'date' }).defaultNow(),
  statements: jsonb('statements').$type<string[]>(),
});

/**
 * `_strata_migrations` as a Drizzle table (migrate() creates it from this very definition). Spelled
 * out as what pgTable returns: the bundled index.d.ts drops the names inside an instantiation
 * expression (`typeof pgTable<…>`), which left it referring to undeclared ones.
 */
export type MigrationsTable = PgTableWithColumns<{
  name: typeof MIGRATIONS_TABLE;
  schema: undefined;
  columns: BuildColumns<typeof MIGRATIONS_TABLE, ReturnType<typeof columns>, 'pg'>;
  dialect: 'pg';
}>;

/**
 * The migrations table in `schema` (default: unqualified, i.e. the search path's first schema).
 * @example const table = strataMigrationsTable('ops'); await db.select().from(table);
 */
export function strataMigrationsTable(schema?: string): MigrationsTable {
  // pgSchema('public') throws in Drizzle; unqualified is the same table on a default search path.
  if (schema === undefined || schema === 'public') return pgTable(MIGRATIONS_TABLE, columns());
  return pgSchema(schema).table(MIGRATIONS_TABLE, columns()) as unknown as MigrationsTable;
}

/**
 * Earlier Strata versions made `id` a serial. Its sequence is Strata's own: drop the default and the
 * sequence, so that drizzle-kit push (which would drop the sequence and fail on the default's
 * dependency) finds none. Idempotent, and a no-op where the table does not exist yet.
 */
export function legacySerialUpgrade(table: MigrationsTable): string[] {
  const schema = getTableConfig(table).schema;
  const target = qualifiedName(schema, getTableName(table));
  return [
    `ALTER TABLE IF EXISTS ${target} ALTER COLUMN "id" DROP DEFAULT`,
    `DROP SEQUENCE IF EXISTS ${qualifiedName(schema, `${MIGRATIONS_TABLE}_id_seq`)}`,
  ];
}

/**
 * The next record's id: one past the highest. Only ever evaluated under the DDL lock (ddlLock), which
 * every writer of the table holds, so two records never get the same id.
 */
export function nextMigrationRecordId(table: MigrationsTable): SQL<number> {
  return sql<number>`(select coalesce(max(${table.id}), 0) + 1 from ${table})`;
}

export interface NewRecord {
  schema: string | null;
  fileName: string;
  checksum: string;
  statements: readonly string[];
}

/**
 * Inserts a record unless one with the same file name and checksum exists; the caller holds the DDL lock. That keeps two instances
 * that migrated at once (possible with neon-http, which plans before its batch takes the lock) to one
 * record; it returns no row then.
 */
export function insertRecord(db: Database, table: MigrationsTable, record: NewRecord): Statement {
  const json = JSON.stringify(record.statements);
  return db.execute(sql`insert into ${table} ("id", "schema", "file_name", "checksum", "statements")
    select ${nextMigrationRecordId(table)}, ${record.schema}::text, ${record.fileName}::text, ${record.checksum}::text, ${json}::jsonb
    where not exists (select 1 from ${table} where "file_name" = ${record.fileName}::text
      and "checksum" = ${record.checksum}::text)
    returning "id", "applied_at"`);
}

/** The record an insertRecord result describes, or undefined when the insert was skipped. */
export function insertedRecord(result: unknown, record: NewRecord): MigrationRecord | undefined {
  const [row] = rowsOf(result);
  if (!row) return undefined;
  // Raw rows carry driver values: neon-http gives timestamptz as Postgres' text, as Drizzle maps it too.
  const raw = row.applied_at;
  const appliedAt = raw instanceof Date ? raw : new Date(String(raw));
  return {
    id: Number(row.id),
    schema: record.schema,
    fileName: record.fileName,
    checksum: record.checksum,
    appliedAt,
    statements: [...record.statements],
  };
}

/** Every record in id order; none when the table does not exist yet. */
export async function readRecords(db: Database, table: MigrationsTable): Promise<MigrationRecord[]> {
  try {
    const rows = await db.select().from(table).orderBy(asc(table.id));
    return rows.map((row) => ({
      id: row.id,
      schema: row.schema,
      fileName: row.fileName,
      checksum: row.checksum,
      appliedAt: row.appliedAt ?? new Date(Number.NaN),
      statements: row.statements ?? [],
    }));
  } catch (error) {
    const cause = driverError(error);
    if (sqlStateOf(cause) === '42P01') return []; // undefined_table: nothing migrated yet
    throw cause;
  }
}
