import { StrataError } from '../errors.js';
import type { CompiledSchema } from '../schema/types.js';
import { fillsItself } from './column-ddl.js';
import type { Database } from './database.js';
import { addColumnStatement, createTableStatements } from './ddl.js';
import { storedIdentifier } from './identifiers.js';
import { DatabaseState, hasRows, type TableName } from './introspect.js';
import { schemaTableModel, type TableModel } from './table-model.js';

/** What one schema needs; a schema whose table already matches has no plan. */
export interface SchemaPlan {
  readonly schema: CompiledSchema;
  readonly fileName: string;
  readonly statements: readonly string[];
}

async function planTable(db: Database, state: DatabaseState, model: TableModel): Promise<string[]> {
  const existing = state.columnsOf(model);
  if (existing === undefined) {
    for (const column of model.columns) state.addColumn(model, column.name);
    for (const index of model.indexes) state.addIndex(model, index.name);
    return createTableStatements(model);
  }
  const missing = model.columns.filter((c) => !existing.has(storedIdentifier(c.name)));
  const strict = missing.filter((c) => c.notNull && !fillsItself(c));
  if (strict.length > 0 && (await hasRows(db, model))) {
    // Adding it nullable would leave the table silently unlike its definition; Postgres would refuse
    // NOT NULL. Stop before anything runs and say what would work.
    const names = strict.map((c) => c.name).join(', ');
    throw new StrataError(
      'INVALID_MODEL',
      `table ${model.name} has rows, so migrate() cannot add NOT NULL column(s) ${names} without a default: ` +
        'give them a .default(…), make them nullable, or add and backfill them with a SQL migration first.',
      { details: { table: model.name, columns: strict.map((c) => c.name) } },
    );
  }
  const statements = missing.map((column) => {
    state.addColumn(model, column.name);
    return addColumnStatement(model, column);
  });
  for (const index of model.indexes) {
    if (state.hasIndex(model, index.name)) continue;
    state.addIndex(model, index.name);
    statements.push(index.statement);
  }
  return statements;
}

/**
 * Compares the schemas' tables with the database and lists, per schema, the statements that would
 * make it match — additively: missing tables, columns, indexes and foreign keys only. Decided from
 * the catalog, not from past records, so a table created by hand or by `drizzle-kit push` counts as
 * it is. Invalid models throw here, before any statement has run.
 */
export async function planMigration(db: Database, schemas: readonly CompiledSchema[]): Promise<SchemaPlan[]> {
  const entries = schemas
    .filter((schema) => schema.l3 !== false)
    .map((schema) => ({ schema, model: schemaTableModel(schema) }));
  const state = await DatabaseState.read(
    db,
    entries.map((e) => e.model),
  );
  const existed = entries.map((e) => state.columnsOf(e.model) !== undefined);
  const planned: (SchemaPlan & { statements: string[] })[] = [];
  for (const { schema, model } of entries) {
    const statements = await planTable(db, state, model);
    planned.push({ schema, fileName: `auto:${model.name}:${schema.fingerprint}`, statements });
  }
  addForeignKeys(entries, existed, planned, state);
  return planned.filter((p) => p.statements.length > 0);
}

/**
 * Each missing foreign key goes at the end of the later of two plans: its own table's and the one that
 * creates the table it references (plans run in order, so that table exists by then, cycles included).
 * A referenced table that neither exists nor is created is INVALID_MODEL, before anything runs.
 */
function addForeignKeys(
  entries: readonly { schema: CompiledSchema; model: TableModel }[],
  existed: readonly boolean[],
  planned: readonly { statements: string[] }[],
  state: DatabaseState,
): void {
  const creator = (name: TableName) =>
    entries.findIndex(
      (e, j) =>
        !existed[j] &&
        storedIdentifier(e.model.name) === storedIdentifier(name.name) &&
        e.model.pgSchema === name.pgSchema,
    );
  for (const [i, { model }] of entries.entries()) {
    for (const fk of model.foreignKeys) {
      if (state.hasForeignKey(model, fk.name)) continue;
      const at = creator(fk.references);
      if (at < 0 && state.columnsOf(fk.references) === undefined) {
        throw new StrataError(
          'INVALID_MODEL',
          `table ${model.name}: foreign key ${fk.name} references ${fk.references.name}, which neither exists nor is a registered schema's table`,
          { details: { table: model.name, foreignKey: fk.name, references: fk.references.name } },
        );
      }
      state.addForeignKey(model, fk.name);
      planned[Math.max(i, at)]!.statements.push(fk.statement);
    }
  }
}
