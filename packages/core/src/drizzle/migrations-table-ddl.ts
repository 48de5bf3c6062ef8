import { createTableStatements } from './ddl.js';
import { legacySerialUpgrade, type MigrationsTable } from './migrations-table.js';
import { tableModel } from './table-model.js';

/**
 * CREATE SCHEMA / TABLE IF NOT EXISTS for the migrations table, then the legacy upgrade. Apart from
 * the table itself: it needs the DDL planner, which only migrate() (and the Node CLI's file
 * migrations) carry.
 */
export function migrationsTableStatements(table: MigrationsTable): string[] {
  return [...createTableStatements(tableModel(table)), ...legacySerialUpgrade(table)];
}
