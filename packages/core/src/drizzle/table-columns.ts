import { type SQL, sql } from 'drizzle-orm';
import { getTableConfig } from 'drizzle-orm/pg-core';
import { sqlStateOf } from '../l3/pg-errors.js';
import type { CompiledSchema } from '../schema/types.js';
import type { Database } from './database.js';
import { driverError } from './driver-error.js';
import { qualifiedName } from './identifiers.js';
import { rowsOf } from './rows.js';

/** The message of a replace (or a refused delete's merge) that found a column it did not learn (see `moved`). */
export const COLUMNS_MOVED = '_strata_columns_moved:';

/**
 * A statement that found its table changed since its columns were learnt: one added (`moved`), a
 * default changed (`defaultsMoved`), or, where it named a column it learnt and its schema does not
 * map (`unmapped`), one dropped since (undefined_column: another deploy's DROP COLUMN).
 */
export function columnsMoved(error: unknown, unmapped = false): boolean {
  const cause = driverError(error);
  const state = sqlStateOf(cause);
  if (unmapped && state === '42703') return true;
  return state === '22P02' && String((cause as { message?: unknown }).message).includes(COLUMNS_MOVED);
}

/** `from pg_attribute where` the live columns of `schema`'s table (`others`: settable, not among `names`). */
function attributes(schema: CompiledSchema): SQL {
  const { schema: pgSchema, name } = getTableConfig(schema.table);
  return sql`from pg_attribute where attrelid = to_regclass(${qualifiedName(pgSchema, name)}) and attnum > 0 and not attisdropped`;
}

const others = (schema: CompiledSchema, names: readonly string[]) =>
  sql`${attributes(schema)} and attgenerated = '' and not ${JSON.stringify(names)}::jsonb @> to_jsonb(attname::text)`;

/**
 * True where `schema`'s table has a column not among `names` that a write could set (a generated
 * one cannot: never named, never reset). Read in the write's own statement, after its lock on the
 * table: a column added by a committed ALTER is seen.
 */
export function beyond(schema: CompiledSchema, names: readonly string[]): SQL {
  return sql`exists (select 1 ${others(schema, names)})`;
}

/**
 * A replace's guard, and a refused delete's merge's (`names`: the columns it sets or resets, and
 * for a merge those it records in `cols`): true, or COLUMNS_MOVED and the column
 * (a cast error, nothing of the statement stays; in the select list, so that Postgres does not
 * fold it as a constant). An identity column it does not know of is left to Postgres, as it should.
 */
export function moved(schema: CompiledSchema, names: readonly string[]): SQL {
  return sql`coalesce((select cast(${COLUMNS_MOVED}::text || attname as integer) = 0 ${others(schema, names)} and attidentity = ''), true)`;
}

/**
 * A merge's guard on the defaults it resets to (`learnt`: by SQL name, the default expression as
 * learnt, null for none): true, or COLUMNS_MOVED and the first column whose default in Postgres is
 * another now (another deploy's `ALTER COLUMN … SET DEFAULT`), as `moved` fails.
 */
export function defaultsMoved(schema: CompiledSchema, learnt: Readonly<Record<string, string | null>>): SQL {
  const { schema: pgSchema, name } = getTableConfig(schema.table);
  const names = sql`${JSON.stringify(learnt)}::jsonb`;
  return sql`coalesce((select cast(${COLUMNS_MOVED}::text || attname as integer) = 0 from pg_attribute left join pg_attrdef on adrelid = attrelid and adnum = attnum where attrelid = to_regclass(${qualifiedName(pgSchema, name)}) and attnum > 0 and not attisdropped and ${names} -> attname::text is not null and pg_get_expr(adbin, adrelid) is distinct from ${names} ->> attname::text limit 1), true)`;
}

/**
 * During a rolling deploy one code version may map fewer columns than its table has (the next
 * version added one). Its whole set does not set those columns, and its replace (`Write.replace`)
 * must reset them; neither Drizzle's table nor the schema says they exist.
 *
 * A whole set asks the catalog in its own statement (`beyond`): where the table has a column the
 * schema does not map, its version row names the columns it set (`_strata_versions.cols`). So the
 * first set of a table this L3 knows nothing of, or the first after another deploy added a column,
 * is recorded right, and costs no extra statement.
 *
 * A replace must name the columns it resets, so it needs them learnt from the catalog (which also
 * says which are generated or identity, left to Postgres): from migrate(), the reply of `nextEpoch`,
 * or one read (`learn`) before the first replace of a table, once per table and L3. Its statement
 * checks that the table has no column beyond those it sets or resets (`moved`): else it fails with
 * COLUMNS_MOVED, and the write learns the table again and runs once more. A column learnt and
 * dropped since (another deploy's DROP COLUMN) fails its reset with undefined_column (42703): the
 * same, learnt again and run once more.
 */
export class TableColumns {
  /**
   * By table (schema identity: two shapes of one table share it): `[name, computed, default]` of its
   * columns (`default`: the expression Postgres gives a new row, as `pg_get_expr` prints it; null: none).
   */
  readonly #known = new Map<string, readonly [string, boolean, (string | null)?][]>();

  /** The columns of `schema`'s table it does not map, but computed ones (none while unknown). */
  unmapped(schema: CompiledSchema): string[] {
    return (this.#known.get(schema.identity) ?? [])
      .filter(([n, computed]) => !computed && schema.columns.every((c) => c.name !== n))
      .map(([n]) => n);
  }

  /**
   * The default in Postgres of each column of `schema`'s table, by SQL name (null: none), what an
   * insert that leaves the column out stores; undefined while the table is not learnt.
   */
  defaults(schema: CompiledSchema): Record<string, string | null> | undefined {
    const known = this.#known.get(schema.identity);
    return known && Object.fromEntries(known.map(([n, , d]) => [n, d ?? null]));
  }

  /** Forgets what was learnt of these schemas' tables (another deploy changed them). */
  forget(schemas: readonly CompiledSchema[]): void {
    for (const s of schemas) this.#known.delete(s.identity);
  }

  /**
   * A JSON array of `[name, computed, default]` of the table's columns (computed: generated or
   * identity, which a replace leaves to Postgres; default: see `#known`), for a statement's reply to
   * carry into `fromCatalog`.
   */
  static catalog(schema: CompiledSchema): SQL<unknown> {
    // A generated column's expression is in pg_attrdef too: not a default.
    const dflt = sql`(select pg_get_expr(adbin, adrelid) from pg_attrdef where adrelid = attrelid and adnum = attnum and attgenerated = '')`;
    return sql`(select json_agg(json_build_array(attname, attgenerated <> '' or attidentity <> '', ${dflt})) ${attributes(schema)})`;
  }

  /** Reads the catalog for those of `schemas` not known yet, in one statement (none when all are). */
  async learn(db: Database, schemas: readonly CompiledSchema[]): Promise<void> {
    const unknown = [...new Map(schemas.map((s) => [s.identity, s])).values()].filter(
      (s) => !this.#known.has(s.identity),
    );
    if (unknown.length === 0) return;
    const parts = unknown.map((s, i) => sql`${TableColumns.catalog(s)} as ${sql.identifier(`c${i}`)}`);
    const [row] = rowsOf(await db.execute(sql`select ${sql.join(parts, sql`, `)}`));
    for (const [i, s] of unknown.entries()) this.fromCatalog(s, row?.[`c${i}`]);
  }

  /** The reply of `catalog` (null when the table does not exist yet: nothing learnt). */
  fromCatalog(schema: CompiledSchema, reply: unknown): void {
    const columns = (typeof reply === 'string' ? JSON.parse(reply) : reply) as
      | [string, boolean, string | null][]
      | null;
    if (Array.isArray(columns) && columns.length > 0) this.#known.set(schema.identity, columns);
  }
}
