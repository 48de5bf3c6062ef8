import { getTableConfig, type PgTable } from 'drizzle-orm/pg-core';
import { qualifiedName, quoteIdentifier } from './identifiers.js';

/** A foreign key migrate() adds to a table that lacks it: after every table it may name exists. */
export interface ForeignKeyModel {
  /** Drizzle's name for it (drizzle-kit's too): what the catalog is checked for. */
  readonly name: string;
  readonly statement: string;
  /** The referenced table: its Postgres schema (undefined: the search path's) and name. */
  readonly references: { readonly pgSchema: string | undefined; readonly name: string };
}

/**
 * The table's `.references(…)` and `foreignKey(…)` as `ALTER TABLE … ADD CONSTRAINT` statements, with
 * their ON DELETE / ON UPDATE actions. Added, never altered: a key of that name already there is kept.
 */
export function foreignKeyModels(table: PgTable, target: string): ForeignKeyModel[] {
  const config = getTableConfig(table);
  return config.foreignKeys.map((fk) => {
    const { columns, foreignColumns, foreignTable } = fk.reference();
    const foreign = getTableConfig(foreignTable);
    const list = (cs: readonly { name: string }[]) => cs.map((c) => quoteIdentifier(c.name)).join(', ');
    const actions = [
      ...(fk.onDelete ? [` ON DELETE ${fk.onDelete.toUpperCase()}`] : []),
      ...(fk.onUpdate ? [` ON UPDATE ${fk.onUpdate.toUpperCase()}`] : []),
    ].join('');
    const name = fk.getName();
    return {
      name,
      statement:
        `ALTER TABLE ${target} ADD CONSTRAINT ${quoteIdentifier(name)} FOREIGN KEY (${list(columns)}) ` +
        `REFERENCES ${qualifiedName(foreign.schema, foreign.name)} (${list(foreignColumns)})${actions}`,
      references: { pgSchema: foreign.schema, name: foreign.name },
    };
  });
}
