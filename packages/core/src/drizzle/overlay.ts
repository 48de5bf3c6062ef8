import { getTableName, type SQL, sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { StrataError } from '../errors.js';
import type { PendingWrites, Row, SearchQuery, StoredRow } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';
import type { Database } from './database.js';
import { mapRows, runMapped } from './mapped-select.js';
import { recordValue } from './recordset.js';
import { ordering, selectedColumns } from './search.js';
import { castType } from './values.js';
import { type VersionsTable, versionOfRow } from './versions-table.js';
import { withdrawnAt } from './withdrawn-table.js';

/** Renders our statements as the builder would (one-row.ts does the same). */
const dialect = new PgDialect();
const P = sql.identifier('_strata_p');
const B = sql.identifier('_strata_b');
const O = sql.identifier('_strata_o');

/**
 * The table as it will be once `pending` is flushed, as a FROM item under the table's own name: its
 * rows, less those a pending write replaces or deletes, plus each pending set's row laid over the
 * stored one (`jsonb_populate_record`: a column the write left out keeps its stored value, or null
 * for a new row; a new row's client default, `PendingWrite.defaults`, only where none is stored).
 * A pending write counts only where it is newer than the version Postgres holds for its key — the
 * flush's own rule — so a write already flushed, or superseded by a transaction, is not laid over
 * again; nor is a withdrawn one (`L3Tier.withdraw`). So do the writes a set carries beneath it (`PendingWrite.under`), at their own version, laid
 * first as `applyBeneath` applies them: their row (its defaults only over no stored row), or their
 * delete (the set then lays its row over none). The writes travel as one JSON parameter.
 */
function overlaySource(versions: VersionsTable, schema: CompiledSchema, pending: PendingWrites): SQL {
  const pk = schema.primaryKey;
  const json = JSON.stringify(
    pending.map((w) => ({
      k: w.id,
      v: w.version,
      r: w.row ? record(schema, w.row) : null,
      // Over a stored row, the row less its defaults (`PendingWrite.defaults`): the flush inserts them only.
      ...(w.row && w.defaults?.length && { s: record(schema, w.row, w.defaults) }),
      // The writes it carries beneath it, at their version (`PendingWrite.under`): `u` none for a delete.
      ...(w.row && w.under && { uv: w.under.version, u: w.under.row && record(schema, w.under.row) }),
      ...(w.row &&
        w.under?.row &&
        w.under.defaults?.length && { us: record(schema, w.under.row, w.under.defaults) }),
    })),
  );
  const type = sql.raw(castType(pk.column));
  const stored = sql`coalesce((select ${versions.version} from ${versions} where ${versions.schema} = ${schema.identity} and ${versions.id} = (p.k::${type})::text), 0)`;
  const key = sql`${B}.${sql.identifier(pk.name)}`;
  // A withdrawn write (a dead letter a Redis rollback brought back: see `L3Tier.withdraw`) is never flushed.
  const withdrawn = withdrawnAt(versions, schema.identity, sql`(p.k::${type})::text`, sql`p.v`);
  // The writes beneath count where they are newer than the stored version too (`b`): their row
  // (`u`; `us` less its defaults, over a stored row), or their delete (the stored row not joined).
  const beneathRow = sql`jsonb_populate_record(${B}, case when not ${P}.b or ${P}.u is null then '{}' when ${key} is null then ${P}.u else coalesce(${P}.us, ${P}.u) end)`;
  const over = sql`case when ${key} is null and not (${P}.b and ${P}.u is not null) then ${P}.r else coalesce(${P}.s, ${P}.r) end`;
  return sql`(with ${P} as (select p.k::${type} as k, p.r, p.s, p.u, p.us, coalesce(p.uv > q.sv, false) as b from jsonb_to_recordset(${json}::jsonb) as p(k text, v bigint, r jsonb, s jsonb, uv bigint, u jsonb, us jsonb) cross join lateral (select ${stored} as sv) as q where p.v > q.sv and not ${withdrawn})
select ${B}.* from ${schema.table} as ${B} where ${key} not in (select k from ${P})
union all
select ${O}.* from ${P} left join ${schema.table} as ${B} on ${key} = ${P}.k and not (${P}.b and ${P}.u is null)
cross join lateral jsonb_populate_record(${beneathRow}, ${over}) as ${O} where ${P}.r is not null) as ${sql.identifier(getTableName(schema.table))}`;
}

/** A stored row as `jsonb_populate_record` reads it: Postgres column names, values as the write sends them. */
function record(schema: CompiledSchema, row: Row, less?: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of schema.columns)
    if (c.key in row && !less?.includes(c.key)) out[c.name] = recordValue(c, row[c.key]);
  return out;
}

/**
 * The statement's text with the table's columns named by the FROM item's alias: Drizzle names a
 * column of a table in a Postgres schema `"schema"."table"."column"`, which an aliased FROM item does
 * not answer to. Only that exact qualified prefix followed by a dot is renamed.
 */
function rendered(schema: CompiledSchema, statement: SQL): { sql: string; params: unknown[] } {
  const query = dialect.sqlToQuery(statement);
  const qualified = dialect.sqlToQuery(sql`${schema.table}`).sql;
  const alias = dialect.sqlToQuery(sql`${sql.identifier(getTableName(schema.table))}`).sql;
  const text = qualified === alias ? query.sql : query.sql.split(`${qualified}.`).join(`${alias}.`);
  return { sql: text, params: query.params };
}

/** Runs our own SQL on the session (a replica's under `withReplicas()`) and auth token a select builder would. */
function mapped<T>(
  db: Database,
  schema: CompiledSchema,
  statement: SQL,
  map: (rows: unknown[][]) => T[],
): Promise<T[]> {
  const via = db.select({ one: sql`1` }).from(schema.table);
  const run = runMapped(via, rendered(schema, statement), map);
  if (run) return run;
  return Promise.reject(
    new StrataError('INVALID_CONFIG', 'this database session cannot run a search over pending writes'),
  );
}

/**
 * A search over the table with `query.pending` laid over it (see `overlaySource`): where, order,
 * limit and offset apply to the rows as they will be after the flush. Each row with the version
 * Postgres holds for it (0 for a row only a pending write has).
 */
export function searchOverlaid(
  db: Database,
  versions: VersionsTable,
  schema: CompiledSchema,
  query: SearchQuery & { pending: PendingWrites },
): Promise<StoredRow[]> {
  const columns = selectedColumns(schema, query.fields);
  const list = sql.join([...columns.map((c) => sql`${c.column}`), versionOfRow(versions, schema)], sql`, `);
  const where = query.where ? sql` where ${query.where}` : sql``;
  const statement = sql`select ${list} from ${overlaySource(versions, schema, query.pending)}${where} order by ${sql.join(ordering(schema, query.orderBy), sql`, `)} limit ${query.limit} offset ${query.offset}`;
  return mapped(db, schema, statement, (rows) => mapRows(rows, columns));
}

/** `count(*)` of the rows matching `where` with `pending` laid over the table. */
export async function countOverlaid(
  db: Database,
  versions: VersionsTable,
  schema: CompiledSchema,
  where: SQL | undefined,
  pending: PendingWrites,
): Promise<number> {
  const statement = sql`select count(*) from ${overlaySource(versions, schema, pending)}${where ? sql` where ${where}` : sql``}`;
  const [n] = await mapped(db, schema, statement, (rows) => rows.map((r) => Number(r[0])));
  return n ?? 0;
}
