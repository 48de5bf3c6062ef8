import { SQL, type SQLChunk, StringChunk, sql } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { CompiledColumn, CompiledSchema } from '../schema/types.js';
import type { Database } from './database.js';
import { qualifiedName } from './identifiers.js';
import type { Statement } from './transactions.js';
import { cannotBeSet, chunk, conflictSet, rowsPerStatement } from './upsert.js';
import { type VersionedWrite, versionScope } from './versioned-plan.js';
import type { VersionsTable } from './versions-table.js';

// Names of the statements' own scope, prefixed so that they never meet a user's table or column.
const SOURCE = sql.identifier('_strata_w');
const TARGET = sql.identifier('_strata_t');
const ID = sql.identifier('_strata_id');
const KEY = sql.identifier('_strata_key');
const VERSION = sql.identifier('_strata_version');

/** The type to cast a parameter to: in a VALUES list Postgres cannot infer it from the target column. */
export function castType(column: PgColumn): string {
  const pgEnum = (column as { enum?: { enumName: string; schema?: string } }).enum;
  if (pgEnum) return qualifiedName(pgEnum.schema, pgEnum.enumName);
  const type = column.getSQLType();
  // serial is a column shorthand, not a type.
  const serial = /^(small|big)?serial$/i.exec(type);
  if (!serial) return type;
  const size = serial[1]?.toLowerCase();
  return size === 'small' ? 'smallint' : size === 'big' ? 'bigint' : 'integer';
}

/** One cell of a VALUES row: bound through its column's encoder (Date, jsonb, bigint…) if it has one. */
interface Cell {
  value: unknown;
  type: string;
  column?: PgColumn;
}

const keyCells = (w: VersionedWrite): Cell[] => [
  { value: w.key, type: 'text' },
  { value: w.version, type: 'bigint' },
];

/**
 * `(…), (…)` of bound parameters, each cast to its type, as one flat fragment: a chunk binds up to
 * 65,535 of them, and Drizzle renders nested fragments about twice as slowly.
 */
function valuesList(rows: readonly (readonly Cell[])[]): SQL {
  const chunks: SQLChunk[] = [];
  rows.forEach((cells, r) => {
    cells.forEach((cell, i) => {
      const before = i > 0 ? ', ' : r > 0 ? '), (' : '(';
      chunks.push(
        new StringChunk(before),
        sql.param(cell.value, cell.column),
        new StringChunk(`::${cell.type}`),
      );
    });
  });
  chunks.push(new StringChunk(')'));
  return new SQL(chunks);
}

const list = (items: readonly SQLChunk[]): SQL => sql.join([...items], sql`, `);

/**
 * True for the source row whose version this transaction recorded: the stored version is its own
 * (versions are unique per key, so it won) and was written now — `updated_at` is the recording
 * transaction's start time, so a redelivered version recorded earlier does not count. Needs no
 * result from the version statement, so it also works inside one `db.batch`.
 */
function won(versions: VersionsTable, schema: CompiledSchema): SQL {
  return sql`exists (select 1 from ${versions} where ${versions.schema} = ${versionScope(schema)} and ${versions.id} = ${SOURCE}.${KEY} and ${versions.version} = ${SOURCE}.${VERSION} and ${versions.updatedAt} = now())`;
}

/**
 * Rows grouped by the columns they give: an INSERT … SELECT cannot say DEFAULT for one row, so a
 * column a row leaves out is left out of its statement, and Postgres applies the column's default.
 */
function byShape(schema: CompiledSchema, sets: readonly VersionedWrite[]) {
  const shapes = new Map<string, { columns: CompiledColumn[]; writes: VersionedWrite[] }>();
  for (const write of sets) {
    const row = write.row ?? {};
    const columns = schema.columns.filter((c) => row[c.key] !== undefined && !cannotBeSet(c.column));
    const name = columns.map((c) => c.key).join('\u0000');
    const shape = shapes.get(name) ?? { columns, writes: [] };
    shape.writes.push(write);
    shapes.set(name, shape);
  }
  return [...shapes.values()];
}

function upsertStatement(
  db: Database,
  versions: VersionsTable,
  schema: CompiledSchema,
  columns: readonly CompiledColumn[],
  writes: readonly VersionedWrite[],
): Statement {
  const aliases = columns.map((_, i) => sql.identifier(`c${i}`));
  const types = columns.map((c) => castType(c.column));
  const values = valuesList(
    writes.map((w) => [
      ...keyCells(w),
      ...columns.map((c, i) => ({ value: w.row?.[c.key], type: types[i] ?? '', column: c.column })),
    ]),
  );
  // Insert-only (autoNowAdd) and generated columns keep their stored value, as in upsertMany.
  const set = Object.entries(
    conflictSet(
      schema,
      writes.map((w) => w.row ?? {}),
    ),
  ).map(([key, value]) => sql`${sql.identifier(schema.columnsByKey.get(key)?.name ?? key)} = ${value}`);
  return db.execute(
    sql`insert into ${schema.table} (${list(columns.map((c) => sql.identifier(c.name)))}) select ${list(aliases.map((a) => sql`${SOURCE}.${a}`))} from (values ${values}) as ${SOURCE} (${KEY}, ${VERSION}, ${list(aliases)}) where ${won(versions, schema)} on conflict (${sql.identifier(schema.primaryKey.name)}) do update set ${list(set)}`,
  );
}

function deleteStatement(
  db: Database,
  versions: VersionsTable,
  schema: CompiledSchema,
  writes: readonly VersionedWrite[],
): Statement {
  const pk = schema.primaryKey;
  const type = castType(pk.column);
  const values = valuesList(writes.map((w) => [{ value: w.id, type, column: pk.column }, ...keyCells(w)]));
  return db.execute(
    sql`delete from ${schema.table} as ${TARGET} using (values ${values}) as ${SOURCE} (${ID}, ${KEY}, ${VERSION}) where ${TARGET}.${sql.identifier(pk.name)} = ${SOURCE}.${ID} and ${won(versions, schema)}`,
  );
}

/**
 * One op's winning sets and deletes, each applied only where its version won: INSERT … SELECT …
 * ON CONFLICT (pk) DO UPDATE per shape and chunk, then DELETE … USING per chunk. Chunks stay under
 * the parameter limit: each row binds its key and version besides its cells, each statement the
 * schema name once.
 */
export function versionedWriteStatements(
  db: Database,
  versions: VersionsTable,
  op: { schema: CompiledSchema; sets: readonly VersionedWrite[]; deletes: readonly VersionedWrite[] },
  maxParameters: number,
): Statement[] {
  const { schema } = op;
  const perStatement = maxParameters - 1;
  return [
    ...byShape(schema, op.sets).flatMap(({ columns, writes }) =>
      chunk(writes, rowsPerStatement(columns.length + 2, perStatement)).map((part) =>
        upsertStatement(db, versions, schema, columns, part),
      ),
    ),
    ...chunk(op.deletes, rowsPerStatement(3, perStatement)).map((part) =>
      deleteStatement(db, versions, schema, part),
    ),
  ];
}
