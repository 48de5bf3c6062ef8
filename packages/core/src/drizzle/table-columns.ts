import { type SQL, sql } from 'drizzle-orm';
import { getTableConfig } from 'drizzle-orm/pg-core';
import type { CompiledSchema } from '../schema/types.js';
import type { Database } from './database.js';
import { qualifiedName } from './identifiers.js';
import { rowsOf } from './rows.js';

/** What Strata last saw of a table. */
interface Known {
  /** Every column's SQL name (generated and identity ones too): what `RETURNING *` replies. */
  readonly all: ReadonlySet<string>;
  /** The generated and identity columns, which a replace leaves to Postgres (when known: the catalog says). */
  readonly computed: ReadonlySet<string>;
}

const NONE: readonly string[] = [];

/**
 * During a rolling deploy one code version may map fewer columns than its table has (the next
 * version added one). Its whole set does not set those columns, and its replace (`Write.replace`)
 * must reset them; neither Drizzle's table nor the schema says they exist. The L3 learns them from
 * the catalog when migrate() ran, in the reply of `nextEpoch` (which seeds a write-behind counter),
 * and from every set's `RETURNING *` (the table's columns), so a column added later is seen at the
 * next set. A Redis-ordered set (whose refusal merges by `cols`, and whose replace must reset) of a
 * table still unknown reads the catalog first: one statement, once per table and L3. Otherwise an
 * unknown schema is taken to map every column (as before). A known schema that maps every column
 * costs nothing more per write.
 */
export class TableColumns {
  /** By table (schema identity: two shapes of one table share it). */
  readonly #known = new Map<string, Known>();
  /** By schema: its unmapped columns, as of the `Known` they were taken from. */
  readonly #unmapped = new WeakMap<
    CompiledSchema,
    { readonly from: Known; readonly names: readonly string[] }
  >();

  /** The columns of `schema`'s table it does not map (empty while unknown, or when it maps them all). */
  unmapped(schema: CompiledSchema): readonly string[] {
    const known = this.#known.get(schema.identity);
    if (!known) return NONE;
    const memo = this.#unmapped.get(schema);
    if (memo?.from === known) return memo.names;
    const mapped = new Set(schema.columns.map((c) => c.name));
    const names = [...known.all].filter((n) => !mapped.has(n) && !known.computed.has(n));
    this.#unmapped.set(schema, { from: known, names: names.length === 0 ? NONE : names });
    return names;
  }

  /**
   * A JSON array of `[name, computed]` of the table's columns (computed: generated or identity,
   * which a replace leaves to Postgres), for a statement's reply to carry into `fromCatalog`.
   */
  static catalog(schema: CompiledSchema): SQL<unknown> {
    const { schema: pgSchema, name } = getTableConfig(schema.table);
    return sql`(select json_agg(json_build_array(attname, attgenerated <> '' or attidentity <> '')) from pg_attribute where attrelid = to_regclass(${qualifiedName(pgSchema, name)}) and attnum > 0 and not attisdropped)`;
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
    const columns = (typeof reply === 'string' ? JSON.parse(reply) : reply) as [string, boolean][] | null;
    if (!Array.isArray(columns) || columns.length === 0) return;
    this.#known.set(schema.identity, {
      all: new Set(columns.map(([name]) => name)),
      computed: new Set(columns.filter(([, computed]) => computed).map(([name]) => name)),
    });
  }

  /**
   * A set's reply (`RETURNING *`, with Strata's own `_strata_` columns): learns the table's columns
   * when they are unknown or changed. A column learnt so whose default is computed (generated,
   * identity) is reset to it by a replace, as an insert of the row would do.
   */
  fromReply(schema: CompiledSchema, raw: Record<string, unknown>): void {
    const names = Object.keys(raw).filter((key) => !key.startsWith('_strata_'));
    const known = this.#known.get(schema.identity);
    if (known && names.length === known.all.size && names.every((n) => known.all.has(n))) return;
    this.#known.set(schema.identity, { all: new Set(names), computed: known?.computed ?? new Set() });
  }
}
