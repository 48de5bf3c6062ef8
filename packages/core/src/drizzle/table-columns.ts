import { sql } from 'drizzle-orm';
import { getTableConfig } from 'drizzle-orm/pg-core';
import type { CompiledSchema } from '../schema/types.js';
import type { Database } from './database.js';
import { qualifiedName } from './identifiers.js';
import { rowsOf } from './rows.js';

/** What the catalog says of a schema's table. */
interface Known {
  /** Every column's SQL name (generated and identity ones too): what `RETURNING *` replies. */
  readonly all: ReadonlySet<string>;
  /** The columns the schema does not map that a write may reset (neither generated nor identity). */
  readonly unmapped: readonly string[];
}

const NONE: readonly string[] = [];

/**
 * During a rolling deploy one code version may map fewer columns than its table has (the next
 * version added one). Its whole set does not set those columns, and its replace (`Write.replace`)
 * must reset them; neither Drizzle's table nor the schema says they exist, so the L3 reads the
 * catalog once per table, and every set's `RETURNING *` (which replies the table's columns) tells it
 * when the table changed since: the next write of the table reads it again. A schema that maps every
 * column (the common case) then costs nothing more per write.
 */
export class TableColumns {
  readonly #known = new Map<string, Known>();

  /** The columns of `schema`'s table it does not map (empty while unknown, or when it maps them all). */
  unmapped(schema: CompiledSchema): readonly string[] {
    return this.#known.get(schema.identity)?.unmapped ?? NONE;
  }

  /** Reads the catalog for the schemas not known yet: one query each, once per L3 (or table change). */
  async learn(db: Database, schemas: Iterable<CompiledSchema>): Promise<void> {
    const unknown = new Map<string, CompiledSchema>();
    for (const s of schemas) if (!this.#known.has(s.identity)) unknown.set(s.identity, s);
    for (const schema of unknown.values()) {
      const { schema: pgSchema, name } = getTableConfig(schema.table);
      const rows = rowsOf(
        await db.execute(
          sql`select attname as name, (attgenerated <> '' or attidentity <> '') as computed from pg_attribute where attrelid = to_regclass(${qualifiedName(pgSchema, name)}) and attnum > 0 and not attisdropped`,
        ),
      );
      // A table not made yet: the write that needs it fails on its own; ask again next time.
      if (rows.length === 0) continue;
      const mapped = new Set(schema.columns.map((c) => c.name));
      const computed = (v: unknown) => v === true || v === 't' || v === 'true';
      this.#known.set(schema.identity, {
        all: new Set(rows.map((r) => String(r.name))),
        unmapped: rows
          .filter((r) => !mapped.has(String(r.name)) && !computed(r.computed))
          .map((r) => String(r.name)),
      });
    }
  }

  /** A set's reply (`RETURNING *`, with Strata's own `_strata_` columns): forgets the table when its columns changed. */
  check(schema: CompiledSchema, raw: Record<string, unknown>): void {
    const known = this.#known.get(schema.identity);
    if (!known) return;
    let n = 0;
    for (const key of Object.keys(raw)) {
      if (key.startsWith('_strata_')) continue;
      if (!known.all.has(key)) return void this.#known.delete(schema.identity);
      n++;
    }
    if (n !== known.all.size) this.#known.delete(schema.identity);
  }
}
