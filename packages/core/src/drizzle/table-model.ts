import { getTableColumns } from 'drizzle-orm';
import { getTableConfig, type PgColumn, type PgTable } from 'drizzle-orm/pg-core';
import { StrataError } from '../errors.js';
import type { CompiledSchema, IndexDefinition } from '../schema/types.js';
import { renderSql } from './column-ddl.js';
import { type ForeignKeyModel, foreignKeyModels } from './foreign-key-ddl.js';
import { qualifiedName, quoteIdentifier } from './identifiers.js';
import { drizzleIndexModel, type IndexModel, schemaIndexModel } from './index-ddl.js';

/** What migrate() creates for one table, resolved and checked before any statement runs. */
export interface TableModel {
  readonly table: PgTable;
  readonly pgSchema: string | undefined;
  readonly name: string;
  /** `"schema"."name"`, quoted. */
  readonly target: string;
  readonly columns: readonly PgColumn[];
  /** Table constraints for CREATE TABLE (multi-column UNIQUE, CHECK). */
  readonly constraints: readonly string[];
  readonly partitionBy: PgColumn | undefined;
  readonly indexes: readonly IndexModel[];
  readonly foreignKeys: readonly ForeignKeyModel[];
}

interface TableExtras {
  /** JS key of the column to range-partition by. */
  partitionBy?: string | undefined;
  indexes?: readonly IndexDefinition[];
}

/** The migrate() view of a registered schema. */
export function schemaTableModel(schema: CompiledSchema): TableModel {
  return tableModel(schema.table, {
    partitionBy: schema.l3 ? schema.l3.partitionBy : undefined,
    indexes: schema.indexes,
  });
}

/** The migrate() view of any Drizzle table (also Strata's own `_strata_migrations` and `_strata_versions`). */
export function tableModel(table: PgTable, extras: TableExtras = {}): TableModel {
  const config = getTableConfig(table);
  const target = qualifiedName(config.schema, config.name);
  const byKey = new Map(Object.entries(getTableColumns(table)) as [string, PgColumn][]);
  const uniques = config.uniqueConstraints.map((u) => ({
    // Drizzle names it when the table is built; the fallback is the same rule.
    name: u.getName() ?? `${config.name}_${u.columns.map((c) => c.name).join('_')}_unique`,
    columns: u.columns,
    nullsNotDistinct: u.nullsNotDistinct,
  }));
  const columnList = (columns: readonly PgColumn[]) => columns.map((c) => quoteIdentifier(c.name)).join(', ');
  const constraints = [
    // A primary key over several columns is a table constraint (Strata's own `_strata_versions`).
    ...config.primaryKeys.map(
      (pk) => `CONSTRAINT ${quoteIdentifier(pk.getName())} PRIMARY KEY (${columnList(pk.columns)})`,
    ),
    ...uniques.map(
      (u) =>
        `CONSTRAINT ${quoteIdentifier(u.name)} UNIQUE${u.nullsNotDistinct ? ' NULLS NOT DISTINCT' : ''} ` +
        `(${columnList(u.columns)})`,
    ),
    ...config.checks.map((c) => `CONSTRAINT ${quoteIdentifier(c.name)} CHECK (${renderSql(c.value)})`),
  ];
  const indexes = [
    ...config.indexes.map((index) => drizzleIndexModel(index, config.name, target)),
    ...(extras.indexes ?? []).map((definition) => schemaIndexModel(definition, byKey, config.name, target)),
  ];
  const model: TableModel = {
    table,
    pgSchema: config.schema,
    name: config.name,
    target,
    columns: config.columns,
    constraints,
    partitionBy: partitionColumn(config.name, byKey, extras.partitionBy),
    indexes,
    foreignKeys: foreignKeyModels(table, target),
  };
  if (model.partitionBy) checkPartitioning(model, uniques);
  return model;
}

function partitionColumn(
  table: string,
  byKey: ReadonlyMap<string, PgColumn>,
  key: string | undefined,
): PgColumn | undefined {
  if (key === undefined) return undefined;
  const column = byKey.get(key);
  if (!column)
    throw new StrataError('INVALID_MODEL', `table ${table}: l3.partitionBy names no column (${key})`);
  return column;
}

/**
 * Postgres enforces a unique constraint on a partitioned table per partition, so it requires every
 * one, the primary key included, to contain the partition column. Say so here, before any DDL.
 */
function checkPartitioning(
  model: TableModel,
  uniqueConstraints: readonly { name: string; columns: readonly PgColumn[] }[],
): void {
  const partition = model.partitionBy!;
  const fail = (what: string): never => {
    throw new StrataError(
      'INVALID_MODEL',
      `table ${model.name}: cannot partition by ${partition.name}: ${what} does not contain it, and Postgres ` +
        'requires every unique constraint on a partitioned table, the primary key included, to contain the ' +
        'partition column. Partition by the primary-key column, or leave l3.partitionBy unset.',
      { details: { table: model.name, partitionBy: partition.name } },
    );
  };
  const primary = model.columns.find((c) => c.primary);
  if (primary !== partition) fail(`the primary key (${primary?.name ?? 'none'})`);
  for (const column of model.columns) {
    if (column.isUnique && column !== partition) fail(`the unique column ${column.name}`);
  }
  for (const unique of uniqueConstraints) {
    if (!unique.columns.includes(partition)) fail(`unique constraint ${unique.name}`);
  }
  for (const index of model.indexes) {
    if (index.unique && !index.columns.includes(partition.name)) fail(`unique index ${index.name}`);
  }
}
