import { and, eq, inArray, or, type SQL, sql } from 'drizzle-orm';
import { pgSchema, text } from 'drizzle-orm/pg-core';
import type { Database } from './database.js';
import { storedIdentifier } from './identifiers.js';
import type { TableModel } from './table-model.js';

// The catalog views as Drizzle tables: introspection goes through the query builder like everything else.
const columnsView = pgSchema('information_schema').table('columns', {
  tableSchema: text('table_schema').notNull(),
  tableName: text('table_name').notNull(),
  columnName: text('column_name').notNull(),
});
const indexesView = pgSchema('pg_catalog').table('pg_indexes', {
  schemaName: text('schemaname').notNull(),
  indexName: text('indexname').notNull(),
});

const key = (schema: string, name: string): string =>
  `${storedIdentifier(schema)}\u0000${storedIdentifier(name)}`;

/**
 * What the database has for the tables being migrated: their columns and indexes. Planning also
 * records here what it is about to create, so two schemas on one table do not plan it twice.
 */
export class DatabaseState {
  readonly #columns = new Map<string, Set<string>>();
  readonly #indexes = new Set<string>();
  #currentSchema: string | undefined;

  #schemaOf(model: TableModel): string {
    // Unqualified tables live in current_schema(), where CREATE TABLE puts them.
    return model.pgSchema ?? this.#currentSchema ?? '';
  }

  /** Stored column names, or undefined when the table does not exist. */
  columnsOf(model: TableModel): ReadonlySet<string> | undefined {
    return this.#columns.get(key(this.#schemaOf(model), model.name));
  }

  hasIndex(model: TableModel, name: string): boolean {
    return this.#indexes.has(key(this.#schemaOf(model), name));
  }

  addColumn(model: TableModel, name: string): void {
    const tableKey = key(this.#schemaOf(model), model.name);
    const columns = this.#columns.get(tableKey) ?? new Set<string>();
    columns.add(storedIdentifier(name));
    this.#columns.set(tableKey, columns);
  }

  addIndex(model: TableModel, name: string): void {
    this.#indexes.add(key(this.#schemaOf(model), name));
  }

  /** Reads the catalog for `models`: one query for columns, one for indexes of the tables that exist. */
  static async read(db: Database, models: readonly TableModel[]): Promise<DatabaseState> {
    const state = new DatabaseState();
    if (models.length === 0) return state;
    const current = sql<string>`current_schema()`;
    const tableMatch = (m: TableModel): SQL | undefined =>
      and(
        eq(columnsView.tableSchema, m.pgSchema === undefined ? current : storedIdentifier(m.pgSchema)),
        eq(columnsView.tableName, storedIdentifier(m.name)),
      );
    const columns = await db
      .select({
        schema: columnsView.tableSchema,
        table: columnsView.tableName,
        column: columnsView.columnName,
        current,
      })
      .from(columnsView)
      .where(or(...models.map(tableMatch)));
    for (const row of columns) {
      state.#currentSchema ??= row.current;
      const tableKey = key(row.schema, row.table);
      const set = state.#columns.get(tableKey) ?? new Set<string>();
      set.add(row.column);
      state.#columns.set(tableKey, set);
    }
    const existing = models.filter((m) => state.columnsOf(m) !== undefined);
    const names = existing.flatMap((m) => m.indexes.map((i) => storedIdentifier(i.name)));
    if (names.length === 0) return state;
    const schemas = [...new Set(existing.map((m) => state.#schemaOf(m)))];
    const indexes = await db
      .select({ schema: indexesView.schemaName, name: indexesView.indexName })
      .from(indexesView)
      .where(and(inArray(indexesView.schemaName, schemas), inArray(indexesView.indexName, names)));
    for (const row of indexes) state.#indexes.add(key(row.schema, row.name));
    return state;
  }
}

/** Whether the table holds any row: a NOT NULL column without a default cannot be added to one that does. */
export async function hasRows(db: Database, model: TableModel): Promise<boolean> {
  const rows = await db.select({ one: sql<number>`1` }).from(model.table).limit(1);
  return rows.length > 0;
}
