import { and, eq, inArray, or, type SQL, sql } from 'drizzle-orm';
import { pgSchema, text } from 'drizzle-orm/pg-core';
import type { Database } from './database.js';
import { storedIdentifier } from './identifiers.js';
import type { TableModel } from './table-model.js';

// The catalog views as Drizzle tables: introspection goes through the query builder like everything else.
// Built on first use, not at load: a table built at module level is a call a bundler must keep, and
// every Worker bundle would carry it, migrate() or not.
const catalogViews = () => ({
  columnsView: pgSchema('information_schema').table('columns', {
    tableSchema: text('table_schema').notNull(),
    tableName: text('table_name').notNull(),
    columnName: text('column_name').notNull(),
  }),
  constraintsView: pgSchema('information_schema').table('table_constraints', {
    tableSchema: text('table_schema').notNull(),
    tableName: text('table_name').notNull(),
    constraintName: text('constraint_name').notNull(),
    constraintType: text('constraint_type').notNull(),
  }),
  indexesView: pgSchema('pg_catalog').table('pg_indexes', {
    schemaName: text('schemaname').notNull(),
    indexName: text('indexname').notNull(),
  }),
});
let views: ReturnType<typeof catalogViews> | undefined;
const catalog = () => (views ??= catalogViews());

const key = (schema: string, name: string): string =>
  `${storedIdentifier(schema)}\u0000${storedIdentifier(name)}`;
const foreignKeyKey = (schema: string, table: string, name: string): string =>
  `${key(schema, table)}\u0000${storedIdentifier(name)}`;

/** A table by its Postgres schema (undefined: the search path's) and name. */
export interface TableName {
  readonly pgSchema: string | undefined;
  readonly name: string;
}

/**
 * What the database has for the tables being migrated: their columns, indexes and foreign keys (and
 * whether the tables their foreign keys name exist). Planning also records here what it is about to
 * create, so two schemas on one table do not plan it twice.
 */
export class DatabaseState {
  readonly #columns = new Map<string, Set<string>>();
  readonly #indexes = new Set<string>();
  readonly #foreignKeys = new Set<string>();
  #currentSchema: string | undefined;

  #schemaOf(model: TableName): string {
    // Unqualified tables live in current_schema(), where CREATE TABLE puts them.
    return model.pgSchema ?? this.#currentSchema ?? '';
  }

  /** Stored column names, or undefined when the table does not exist. */
  columnsOf(model: TableName): ReadonlySet<string> | undefined {
    return this.#columns.get(key(this.#schemaOf(model), model.name));
  }

  hasForeignKey(model: TableModel, name: string): boolean {
    return this.#foreignKeys.has(foreignKeyKey(this.#schemaOf(model), model.name, name));
  }

  addForeignKey(model: TableModel, name: string): void {
    this.#foreignKeys.add(foreignKeyKey(this.#schemaOf(model), model.name, name));
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

  /**
   * Reads the catalog for `models` and the tables their foreign keys name: one query for columns,
   * one for indexes and one for foreign keys of the tables that exist.
   */
  static async read(db: Database, models: readonly TableModel[]): Promise<DatabaseState> {
    const state = new DatabaseState();
    if (models.length === 0) return state;
    const { columnsView, indexesView } = catalog();
    const current = sql<string>`current_schema()`;
    const tableMatch = (m: TableName): SQL | undefined =>
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
      .where(
        or(
          ...[...models, ...models.flatMap((m) => m.foreignKeys.map((fk) => fk.references))].map(tableMatch),
        ),
      );
    for (const row of columns) {
      state.#currentSchema ??= row.current;
      const tableKey = key(row.schema, row.table);
      const set = state.#columns.get(tableKey) ?? new Set<string>();
      set.add(row.column);
      state.#columns.set(tableKey, set);
    }
    const existing = models.filter((m) => state.columnsOf(m) !== undefined);
    await state.#readForeignKeys(db, existing);
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

  async #readForeignKeys(db: Database, existing: readonly TableModel[]): Promise<void> {
    const names = existing.flatMap((m) => m.foreignKeys.map((fk) => storedIdentifier(fk.name)));
    if (names.length === 0) return;
    const { constraintsView } = catalog();
    const rows = await db
      .select({
        schema: constraintsView.tableSchema,
        table: constraintsView.tableName,
        name: constraintsView.constraintName,
      })
      .from(constraintsView)
      .where(
        and(
          eq(constraintsView.constraintType, 'FOREIGN KEY'),
          inArray(constraintsView.tableSchema, [...new Set(existing.map((m) => this.#schemaOf(m)))]),
          inArray(constraintsView.constraintName, names),
        ),
      );
    for (const row of rows) this.#foreignKeys.add(foreignKeyKey(row.schema, row.table, row.name));
  }
}

/** Whether the table holds any row: a NOT NULL column without a default cannot be added to one that does. */
export async function hasRows(db: Database, model: TableModel): Promise<boolean> {
  const rows = await db.select({ one: sql<number>`1` }).from(model.table).limit(1);
  return rows.length > 0;
}
