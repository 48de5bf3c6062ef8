import { isStrataError, type MigrationRecord, StrataError } from '@strata/core';
import type { Database } from '@strata/core/drizzle';
import { sql } from 'drizzle-orm';
import { fileFailed, withRunProgress } from './migrations/file-failed.js';
import { FileRecords } from './migrations/file-records.js';
import { type MigrationFile, readMigrationFiles } from './migrations/migration-files.js';

/** A Drizzle database, or something that carries one (what `createStrata` resolves). */
export type MigrationTarget = Database | { db: Database; migrationsSchema?: string | undefined };

export interface MigrateFromOptions {
  /** Postgres schema of `_strata_migrations`. Default: the target's, else unqualified. */
  migrationsSchema?: string;
}

export interface MigrateFromResult {
  /** The records of the files this run applied, in order. */
  applied: MigrationRecord[];
  /** Files applied before (same checksum), in order. */
  skipped: string[];
}

/**
 * Applies the `NNN_description.sql` files of `dir` not applied yet, in numeric order, each in its
 * own transaction together with its `_strata_migrations` record (schema null, checksum = SHA-256
 * of the bytes). Runs queue behind each other and behind `strata.migrate()` on core's advisory
 * lock. A file edited after it was applied stops the run before anything is applied; a failing
 * file is rolled back (TX_FAILED naming it and its SQLSTATE) and the files before it stay applied:
 * the error's `details.applied` lists the files this run applied, `details.notApplied` the failed
 * one and those after it.
 * Needs interactive transactions (node-postgres, neon-ws); a file must not BEGIN or COMMIT itself.
 * @example
 * const { applied } = await migrateFrom(drizzle(pool), './migrations');
 * console.log(applied.map((r) => r.fileName)); // ['001_init.sql', '002_add_scores.sql']
 */
export async function migrateFrom(
  target: MigrationTarget,
  dir: string,
  options: MigrateFromOptions = {},
): Promise<MigrateFromResult> {
  const db = isDatabase(target) ? target : target.db;
  const schema = options.migrationsSchema ?? (isDatabase(target) ? undefined : target.migrationsSchema);
  if (typeof (db as { batch?: unknown }).batch === 'function') {
    throw new StrataError(
      'INVALID_CONFIG',
      'migrateFrom needs interactive transactions (node-postgres or neon-ws); neon-http has none',
      { details: { field: 'db' } },
    );
  }
  const files = await readMigrationFiles(dir);
  const records = new FileRecords(schema);
  const applied = await db.transaction(async (tx) => {
    await records.lock(tx);
    await records.ensureTable(tx);
    return records.checksums(tx);
  });
  // Every applied file is checked before any is applied: a changed one stops the run up front.
  for (const file of files) assertUnchanged(file, applied.get(file.fileName));
  const result: MigrateFromResult = { applied: [], skipped: [] };
  for (const [i, file] of files.entries()) {
    let record: MigrationRecord | undefined;
    try {
      record = applied.has(file.fileName) ? undefined : await applyFile(db, records, file);
    } catch (error) {
      const notApplied = files.slice(i).filter((f) => !applied.has(f.fileName));
      throw withRunProgress(error as StrataError, result.applied, notApplied);
    }
    if (record) result.applied.push(record);
    else result.skipped.push(file.fileName);
  }
  return result;
}

/** The file and its record in one transaction; undefined when another run applied it meanwhile. */
async function applyFile(
  db: Database,
  records: FileRecords,
  file: MigrationFile,
): Promise<MigrationRecord | undefined> {
  try {
    return await db.transaction(async (tx) => {
      await records.lock(tx);
      const recorded = (await records.checksums(tx)).get(file.fileName);
      if (recorded !== undefined) {
        assertUnchanged(file, recorded);
        return undefined;
      }
      await tx.execute(sql.raw(file.text));
      return records.insert(tx, file);
    });
  } catch (error) {
    throw isStrataError(error) ? error : fileFailed(file, error);
  }
}

function assertUnchanged(file: MigrationFile, recorded: string | undefined): void {
  if (recorded === undefined || recorded === file.checksum) return;
  throw new StrataError(
    'INVALID_CONFIG',
    `migration ${file.fileName} was changed after it was applied (checksum ${recorded.slice(0, 12)}… recorded, ` +
      `${file.checksum.slice(0, 12)}… now): restore it and put the change in a new migration`,
    { details: { file: file.fileName, recorded, current: file.checksum } },
  );
}

function isDatabase(target: MigrationTarget): target is Database {
  return typeof (target as { execute?: unknown }).execute === 'function';
}
