import { sql } from 'drizzle-orm';
import type { MigrationRecord, MigrationResult } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';
import { statementsChecksum } from './checksum.js';
import { countersTableStatements } from './counters-table.js';
import type { Database } from './database.js';
import { ddlLock } from './ddl-lock.js';
import { migrationError } from './migration-error.js';
import {
  insertedRecord,
  insertRecord,
  legacySerialUpgrade,
  type MigrationsTable,
  type NewRecord,
} from './migrations-table.js';
import { migrationsTableStatements } from './migrations-table-ddl.js';
import { planMigration, type SchemaPlan } from './plan.js';
import type { Statement, Transactions } from './transactions.js';
import { type VersionsTable, versionsColumnsStatements, versionsTableStatements } from './versions-table.js';
import { withdrawnTableStatements } from './withdrawn-table.js';

async function newRecords(plans: readonly SchemaPlan[]): Promise<NewRecord[]> {
  return Promise.all(
    plans.map(async (plan) => ({
      schema: plan.schema.name,
      fileName: plan.fileName,
      checksum: await statementsChecksum(plan.statements),
      statements: plan.statements,
    })),
  );
}

function result(plans: readonly SchemaPlan[], records: (MigrationRecord | undefined)[]): MigrationResult {
  return {
    applied: plans.flatMap((plan) => plan.statements),
    records: records.filter((r): r is MigrationRecord => r !== undefined),
  };
}

/**
 * What `createLeanDrizzleL3`'s `migrate` option takes: {@link drizzleMigrate}. The L3 calls it with its
 * own parts and the schemas to migrate.
 */
export type DrizzleMigrate = (
  transactions: Transactions,
  db: Database,
  table: MigrationsTable,
  versions: VersionsTable,
  schemas: readonly CompiledSchema[],
) => Promise<MigrationResult>;

/**
 * Plans and applies the schemas' DDL atomically under a transaction-scoped advisory lock, so two
 * instances migrating at once queue instead of colliding on CREATE TABLE.
 *
 * Interactive transactions take the lock first and plan inside it: the second instance sees the
 * first one's tables and does nothing. A batch (neon-http) cannot read between statements, so it plans
 * before the batch and the batch takes the lock; every statement is IF NOT EXISTS and the record insert
 * skips an identical record, so the later batch is a no-op too.
 *
 * The Drizzle L3's migrate() (createDrizzleL3 has it; createLeanDrizzleL3 has it when passed in, so
 * that a Worker whose tables come from drizzle-kit does not bundle the DDL planner).
 * @example
 * import { createLeanDrizzleL3, drizzleMigrate } from '@strata/core/drizzle';
 * const l3 = createLeanDrizzleL3(drizzle(neon(env.DATABASE_URL)), { migrate: drizzleMigrate });
 */
export async function drizzleMigrate(
  transactions: Transactions,
  db: Database,
  table: MigrationsTable,
  versions: VersionsTable,
  schemas: readonly CompiledSchema[],
): Promise<MigrationResult> {
  try {
    return await migrateOnce(transactions, db, table, versions, schemas);
  } catch (error) {
    throw migrationError(error);
  }
}

async function migrateOnce(
  transactions: Transactions,
  db: Database,
  table: MigrationsTable,
  versions: VersionsTable,
  schemas: readonly CompiledSchema[],
): Promise<MigrationResult> {
  // Nothing to migrate needs no lock and no round trip.
  if (schemas.every((schema) => schema.l3 === false)) return result([], []);
  // Strata's own tables come with the first migration that does something; applyVersioned also
  // creates its table when missing, for a database migrated before the table existed.
  // (Both begin with the same CREATE SCHEMA IF NOT EXISTS when qualified: once is enough.)
  const setup = [
    ...new Set([
      ...migrationsTableStatements(table),
      ...versionsTableStatements(versions),
      ...versionsColumnsStatements(versions),
      ...countersTableStatements(versions),
      ...withdrawnTableStatements(versions),
    ]),
  ];
  if (transactions.mode === 'batch') {
    const plans = await planMigration(db, schemas);
    if (plans.length === 0) {
      // Nothing to create, but a table of an earlier Strata may still carry its serial sequence.
      await transactions.batch([
        ddlLock(db),
        ...legacySerialUpgrade(table).map((s) => db.execute(sql.raw(s))),
      ]);
      return result([], []);
    }
    const records = await newRecords(plans);
    const statements: Statement[] = [ddlLock(db), ...setup.map((s) => db.execute(sql.raw(s)))];
    const recordAt: number[] = [];
    plans.forEach((plan, i) => {
      statements.push(...plan.statements.map((s) => db.execute(sql.raw(s))));
      recordAt.push(statements.push(insertRecord(db, table, records[i]!)) - 1);
    });
    const results = await transactions.batch(statements);
    return result(
      plans,
      recordAt.map((at, i) => insertedRecord(results[at], records[i]!)),
    );
  }
  return transactions.interactive(async (tx) => {
    await ddlLock(tx);
    const plans = await planMigration(tx, schemas);
    if (plans.length === 0) {
      for (const statement of legacySerialUpgrade(table)) await tx.execute(sql.raw(statement));
      return result([], []);
    }
    const records = await newRecords(plans);
    for (const statement of setup) await tx.execute(sql.raw(statement));
    const inserted: (MigrationRecord | undefined)[] = [];
    for (const [i, plan] of plans.entries()) {
      for (const statement of plan.statements) await tx.execute(sql.raw(statement));
      inserted.push(insertedRecord(await insertRecord(tx, table, records[i]!), records[i]!));
    }
    return result(plans, inserted);
  });
}
