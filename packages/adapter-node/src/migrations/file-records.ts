import type { MigrationRecord } from '@strata/core';
import {
  ddlLock,
  migrationsTableStatements,
  nextMigrationRecordId,
  strataMigrationsTable,
} from '@strata/core/driver';
import type { Database } from '@strata/core/drizzle';
import { isNull, sql } from 'drizzle-orm';

type MigrationsTable = ReturnType<typeof strataMigrationsTable>;

/** Where file migrations are recorded: core's `_strata_migrations`, rows with `schema` null. */
export class FileRecords {
  readonly table: MigrationsTable;

  constructor(migrationsSchema: string | undefined) {
    this.table = strataMigrationsTable(migrationsSchema);
  }

  /** Holds core's DDL lock until the transaction ends: migrate() and migrateFrom queue behind each other. */
  async lock(tx: Database): Promise<void> {
    await ddlLock(tx);
  }

  /** Creates core's migrations table when missing, or upgrades an old one (the same DDL core's migrate() runs). */
  async ensureTable(tx: Database): Promise<void> {
    for (const statement of migrationsTableStatements(this.table)) await tx.execute(sql.raw(statement));
  }

  /** Checksum per file name of every file migration applied. */
  async checksums(tx: Database): Promise<Map<string, string>> {
    const rows = await tx
      .select({ fileName: this.table.fileName, checksum: this.table.checksum })
      .from(this.table)
      .where(isNull(this.table.schema));
    return new Map(rows.map((row) => [row.fileName, row.checksum]));
  }

  async insert(
    tx: Database,
    file: { fileName: string; checksum: string; text: string },
  ): Promise<MigrationRecord> {
    const [row] = await tx
      .insert(this.table)
      .values({
        id: nextMigrationRecordId(this.table),
        schema: null,
        fileName: file.fileName,
        checksum: file.checksum,
        statements: [file.text],
      })
      .returning();
    return {
      id: row!.id,
      schema: null,
      fileName: row!.fileName,
      checksum: row!.checksum,
      appliedAt: row!.appliedAt ?? new Date(Number.NaN),
      statements: row!.statements ?? [],
    };
  }
}
