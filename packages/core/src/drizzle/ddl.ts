import type { PgColumn } from 'drizzle-orm/pg-core';
import { columnDefinition } from './column-ddl.js';
import { qualifiedName, quoteIdentifier } from './identifiers.js';
import type { TableModel } from './table-model.js';

/** The name of the catch-all partition migrate() gives a partitioned table. */
function defaultPartitionName(table: string): string {
  return `${table}_default`;
}

/**
 * Everything that creates a missing table: its pg schema, the table (partitioned by range with a
 * DEFAULT partition, so rows land before any other partition exists), then its indexes.
 * @example createTableStatements(tableModel(users)); // ['CREATE TABLE IF NOT EXISTS "users" (…)', …]
 */
export function createTableStatements(model: TableModel): string[] {
  const statements: string[] = [];
  if (model.pgSchema !== undefined)
    statements.push(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(model.pgSchema)}`);
  const body = [
    ...model.columns.map((c) => columnDefinition(c, { primaryKey: c.primary })),
    ...model.constraints,
  ];
  const partition = model.partitionBy;
  const partitioned = partition ? ` PARTITION BY RANGE (${quoteIdentifier(partition.name)})` : '';
  statements.push(`CREATE TABLE IF NOT EXISTS ${model.target} (${body.join(', ')})${partitioned}`);
  if (partition) {
    const defaultPartition = qualifiedName(model.pgSchema, defaultPartitionName(model.name));
    statements.push(`CREATE TABLE IF NOT EXISTS ${defaultPartition} PARTITION OF ${model.target} DEFAULT`);
  }
  statements.push(...model.indexes.map((index) => index.statement));
  return statements;
}

/** Adds one column the table lacks; never touches the ones it has. */
export function addColumnStatement(model: TableModel, column: PgColumn): string {
  return `ALTER TABLE ${model.target} ADD COLUMN IF NOT EXISTS ${columnDefinition(column, { primaryKey: column.primary })}`;
}
