import { eq, type SQL, sql } from 'drizzle-orm';
import { StrataError } from '../errors.js';
import type { L3Capture } from '../l3/capture.js';
import type {
  CounterMark,
  L3Tier,
  MigrationRecord,
  MigrationResult,
  PendingWrites,
  ScanOptions,
  SearchQuery,
  StoredRow,
  ValueReplacement,
  WithdrawalFound,
  WithdrawnWrite,
  WriteOp,
  WriteOutcome,
  WriterClaim,
} from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';
import type { ChangeCapture } from './capture/drizzle-capture.js';
import { counterMarks, markCounters } from './counters-table.js';
import type { Database } from './database.js';
import { databaseIdentity } from './database-identity.js';
import { runDriver } from './driver-error.js';
import { runVersionedSelect } from './mapped-select.js';
import { mergeRefused } from './merge-refused.js';
import type { DrizzleMigrate } from './migrate.js';
import { type MigrationsTable, readRecords, strataMigrationsTable } from './migrations-table.js';
import { OneRowReads, OneRowStatements } from './one-row.js';
import { countOverlaid, searchOverlaid } from './overlay.js';
import { replaceStatement } from './replace-values.js';
import {
  countStatement,
  findOneStatement,
  findStatement,
  scanStatement,
  searchStatement,
  selectedColumns,
} from './search.js';
import { TableColumns } from './table-columns.js';
import { type TransactionMode, Transactions } from './transactions.js';
import { chunk, MAX_PARAMETERS } from './upsert.js';
import { nextEpochStatement, strataVersionsTable } from './versions-table.js';
import { walPosition } from './wal-position.js';
import { markWithdrawalsSent, recordWithdrawn, withdrawnAmong } from './withdraw.js';
import { runWrite, type WriteContext, withVersionsTable } from './write.js';
import { claimWriter } from './writers-table.js';

/**
 * Options of `createDrizzleL3` and `createLeanDrizzleL3`.
 * @example createDrizzleL3(db, { migrationsSchema: 'ops', maxParameters: 10_000 })
 */
export interface DrizzleL3Options {
  /**
   * How to make several statements atomic. Default: detected — 'batch' when the database has
   * `db.batch` (neon-http), else 'interactive' (`db.transaction`).
   */
  transactions?: TransactionMode;
  /**
   * Postgres schema of `_strata_migrations`, `_strata_versions`, `_strata_writers`, `_strata_counters` and `_strata_withdrawn`. Default:
   * unqualified (the search path's first schema).
   */
  migrationsSchema?: string;
  /**
   * Bind parameters per statement; lower it to keep requests small (Neon's HTTP endpoint caps a
   * request body at 10 MB). Default 65,535, Postgres' limit.
   */
  maxParameters?: number;
  /** Name in logs and stats. Default 'drizzle'. */
  name?: string;
  /**
   * Change capture (`changeCapture` from this entry): the L3 can then install Postgres triggers that
   * log writes made outside Strata, and read that log (`l3.capture`). Passed in rather than built in,
   * so a Worker that does not use it does not bundle it. See docs/change-capture.md.
   * @example createDrizzleL3(db, { capture: changeCapture })
   */
  capture?: ChangeCapture;
  /**
   * migrate() (`drizzleMigrate` from this entry): additive DDL for the schemas' tables. createDrizzleL3
   * passes it unless told otherwise; createLeanDrizzleL3 has none unless given one, so a Worker whose
   * tables come from drizzle-kit does not bundle the DDL planner. Without it, migrate() rejects with
   * INVALID_CONFIG and runs nothing.
   * @example createLeanDrizzleL3(db, { migrate: drizzleMigrate })
   */
  migrate?: DrizzleMigrate;
}

class DrizzleL3 implements L3Tier {
  readonly name: string;
  readonly #db: Database;
  readonly #transactions: Transactions;
  readonly #migrations: MigrationsTable;
  readonly #write: WriteContext;
  readonly #maxParameters: number;
  readonly #oneRowReads = new OneRowReads();
  readonly #migrate: DrizzleMigrate | undefined;
  readonly capture: L3Capture | undefined;

  constructor(db: Database, options: DrizzleL3Options) {
    this.name = options.name ?? 'drizzle';
    this.#db = db;
    this.#transactions = new Transactions(db, options.transactions);
    this.#migrations = strataMigrationsTable(options.migrationsSchema);
    this.#migrate = options.migrate;
    this.#maxParameters = options.maxParameters ?? MAX_PARAMETERS;
    if (
      !Number.isInteger(this.#maxParameters) ||
      this.#maxParameters < 8 ||
      this.#maxParameters > MAX_PARAMETERS
    ) {
      throw new StrataError('INVALID_CONFIG', `maxParameters must be an integer from 8 to ${MAX_PARAMETERS}`);
    }
    this.#write = {
      db,
      transactions: this.#transactions,
      versions: strataVersionsTable(options.migrationsSchema),
      maxParameters: this.#maxParameters,
      oneRow: new OneRowStatements(db),
      markOwnWrites: undefined,
      columns: new TableColumns(),
    };
    const capture = options.capture?.(
      this.name,
      db,
      this.#transactions,
      this.#write.versions,
      options.migrationsSchema,
    );
    this.capture = capture;
    this.#write.markOwnWrites = capture?.ownWritesMark;
  }

  get #versions() {
    return this.#write.versions;
  }

  /** A driver call that reads or writes `_strata_versions`, which it creates when it is missing. */
  #versioned<T>(work: () => Promise<T>): Promise<T> {
    return runDriver(() => withVersionsTable(this.#write, work));
  }

  findMany(schema: CompiledSchema, ids: readonly unknown[], pending?: PendingWrites): Promise<StoredRow[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.#versioned(async () => {
      if (pending) {
        const parts = chunk(ids, this.#maxParameters - 4).map((part) =>
          findStatement(this.#db, this.#versions, schema, part, pending),
        );
        return (await Promise.all(parts)).flat();
      }
      if (ids.length === 1) {
        const find = () => findStatement(this.#db, this.#versions, schema, ids);
        return this.#oneRowReads.find(
          schema,
          ids[0],
          () => findOneStatement(this.#db, this.#versions, schema),
          async () => await find(),
        );
      }
      // Key lists longer than the parameter limit are split; each part is one statement.
      const parts = await Promise.all(
        chunk(ids, this.#maxParameters - 2).map((part) =>
          findStatement(this.#db, this.#versions, schema, part),
        ),
      );
      return parts.flat();
    });
  }

  exists(schema: CompiledSchema, id: unknown): Promise<boolean> {
    const pk = schema.primaryKey.column;
    return runDriver(async () => {
      const rows = await this.#db
        .select({ one: sql<number>`1` })
        .from(schema.table)
        .where(eq(pk, id))
        .limit(1);
      return rows.length > 0;
    });
  }

  write(ops: readonly WriteOp[]): Promise<WriteOutcome[][]> {
    return runDriver(() => runWrite(this.#write, ops));
  }

  mergeRefused(ops: readonly WriteOp[]): Promise<WriteOutcome[][]> {
    return runDriver(() => mergeRefused(this.#write, ops));
  }

  nextEpoch(schema: CompiledSchema): Promise<number> {
    return this.#versioned(async () => {
      const [row] = await nextEpochStatement(this.#db, this.#versions, schema, TableColumns.catalog(schema));
      this.#write.columns.fromCatalog(schema, row?.columns);
      return Number(row?.version);
    });
  }

  claimWriter(
    schema: CompiledSchema,
    owner: string,
    exclusive: boolean,
    seeded: boolean,
    ordered?: boolean,
  ): Promise<WriterClaim> {
    return runDriver(() => claimWriter(this.#write, schema, owner, exclusive, seeded, ordered));
  }

  markCounters(marks: readonly CounterMark[]): Promise<void> {
    return runDriver(() => markCounters(this.#write, marks));
  }

  withdraw(schema: CompiledSchema, writes: readonly WithdrawnWrite[]): Promise<void> {
    return runDriver(() => recordWithdrawn(this.#write, schema, writes));
  }

  withdrawnAmong(schema: CompiledSchema, writes: readonly WithdrawnWrite[]): Promise<WithdrawalFound[]> {
    return runDriver(() => withdrawnAmong(this.#write, schema, writes));
  }

  withdrawalsSent(schema: CompiledSchema, writes: readonly WithdrawnWrite[]): Promise<void> {
    return runDriver(() => markWithdrawalsSent(this.#write, schema, writes));
  }

  counterMarks(schema: string, counters: readonly string[]): Promise<CounterMark[]> {
    return runDriver(() => counterMarks(this.#write, schema, counters));
  }

  replaceValues(schema: CompiledSchema, changes: readonly ValueReplacement[]): Promise<unknown[]> {
    if (changes.length === 0) return Promise.resolve([]);
    return runDriver(async () => {
      const build = (db: Database) => changes.map((change) => replaceStatement(db, schema, change));
      const results =
        changes.length === 1 ? [await build(this.#db)[0]!] : await this.#transactions.all(build);
      return results.flatMap((rows) => rows.map((row) => row.id));
    });
  }

  scan(schema: CompiledSchema, options: ScanOptions): Promise<StoredRow[]> {
    return this.#versioned(() =>
      runVersionedSelect(scanStatement(this.#db, this.#versions, schema, options), schema.columns),
    );
  }

  search(schema: CompiledSchema, query: SearchQuery): Promise<StoredRow[]> {
    const { pending } = query;
    if (pending?.length)
      return this.#versioned(() => searchOverlaid(this.#db, this.#versions, schema, { ...query, pending }));
    return this.#versioned(() =>
      runVersionedSelect(
        searchStatement(this.#db, this.#versions, schema, query),
        selectedColumns(schema, query.fields),
      ),
    );
  }

  count(schema: CompiledSchema, where?: SQL, pending?: PendingWrites): Promise<number> {
    if (pending?.length)
      return this.#versioned(() => countOverlaid(this.#db, this.#versions, schema, where, pending));
    return runDriver(async () => {
      const [row] = await countStatement(this.#db, schema, where);
      return row?.n ?? 0;
    });
  }

  migrate(schemas: readonly CompiledSchema[]): Promise<MigrationResult> {
    const migrate = this.#migrate;
    if (!migrate) return Promise.reject(withoutMigrate(this.name));
    return runDriver(async () => {
      const result = await migrate(this.#transactions, this.#db, this.#migrations, this.#versions, schemas);
      // The tables as migrated (another version's columns too): see `TableColumns`.
      await this.#write.columns.learn(
        this.#db,
        schemas.filter((s) => s.l3 !== false),
      );
      return result;
    });
  }

  migrationStatus(): Promise<MigrationRecord[]> {
    return runDriver(() => readRecords(this.#db, this.#migrations));
  }

  identity(): Promise<string> {
    return runDriver(() => databaseIdentity(this.#db));
  }

  walPosition(): Promise<number> {
    return runDriver(() => walPosition(this.#db));
  }
}

/** What migrate() of an L3 built without `migrate` rejects with, before any statement. */
function withoutMigrate(name: string): StrataError {
  return new StrataError(
    'INVALID_CONFIG',
    `L3 ${name} has no migrate(): pass \`migrate: drizzleMigrate\` (@strata/core/drizzle) to ` +
      'createLeanDrizzleL3, drizzleMigrate to createStrata, or create the tables with drizzle-kit',
    { details: { l3: name, missing: 'migrate' } },
  );
}

/**
 * The L3 tier over a Drizzle Postgres database, whatever its driver, with migrate() only when
 * `options.migrate` is given (`drizzleMigrate`): createDrizzleL3 without the DDL planner, about 4 KiB of
 * gzip a Worker whose tables come from drizzle-kit does not need. Everything else is the same L3,
 * including creating `_strata_versions` when a write finds it missing.
 * @example
 * import { createLeanDrizzleL3 } from '@strata/core/drizzle';
 * import { drizzle } from 'drizzle-orm/neon-http';
 * const l3 = createLeanDrizzleL3(drizzle(env.DATABASE_URL)); // tables made by drizzle-kit push
 * await l3.migrate([userSchema]); // rejects: INVALID_CONFIG, nothing run
 */
export function createLeanDrizzleL3(db: Database, options: DrizzleL3Options = {}): L3Tier {
  return new DrizzleL3(db, options);
}
