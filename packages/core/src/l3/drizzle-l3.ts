import { asc, eq, gt, inArray, type SQL, sql } from 'drizzle-orm';
import { StrataError } from '../errors.js';
import type { CompiledSchema } from '../schema/types.js';
import { applyVersionedWrites, type VersionedContext } from './apply-versioned.js';
import type { Database } from './database.js';
import { driverError } from './driver-error.js';
import { runMigration } from './migrate.js';
import { type MigrationsTable, readRecords, strataMigrationsTable } from './migrations-table.js';
import { replaceStatement } from './replace-values.js';
import { countStatement, searchStatement } from './search.js';
import { type TransactionMode, Transactions } from './transactions.js';
import type {
  L3Tier,
  MigrationRecord,
  MigrationResult,
  Row,
  ScanOptions,
  SearchQuery,
  ValueReplacement,
  VersionedWriteOp,
  VersionedWriteResult,
  WriteOp,
  WriteOpResult,
} from './types.js';
import { chunk, MAX_PARAMETERS } from './upsert.js';
import { strataVersionsTable } from './versions-table.js';
import {
  planWrite,
  statementCount,
  type WriteStatement,
  writeResults,
  writeStatements,
} from './write-plan.js';

export interface DrizzleL3Options {
  /**
   * How to make several statements atomic. Default: detected — 'batch' when the database has
   * `db.batch` (neon-http), else 'interactive' (`db.transaction`).
   */
  transactions?: TransactionMode;
  /**
   * Postgres schema of `_strata_migrations` and `_strata_versions`. Default: unqualified (the search
   * path's first schema).
   */
  migrationsSchema?: string;
  /**
   * Bind parameters per statement; lower it to keep requests small (Neon's HTTP endpoint caps a
   * request body at 10 MB). Default 65,535, Postgres' limit.
   */
  maxParameters?: number;
  /** Name in logs and stats. Default 'drizzle'. */
  name?: string;
}

/** Runs a driver call; a failure rejects with the driver's own error (it has the SQLSTATE `code`). */
async function driver<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw driverError(error);
  }
}

class DrizzleL3 implements L3Tier {
  readonly name: string;
  readonly #db: Database;
  readonly #transactions: Transactions;
  readonly #migrations: MigrationsTable;
  readonly #versioned: VersionedContext;
  readonly #maxParameters: number;

  constructor(db: Database, options: DrizzleL3Options) {
    this.name = options.name ?? 'drizzle';
    this.#db = db;
    this.#transactions = new Transactions(db, options.transactions);
    this.#migrations = strataMigrationsTable(options.migrationsSchema);
    this.#maxParameters = options.maxParameters ?? MAX_PARAMETERS;
    if (
      !Number.isInteger(this.#maxParameters) ||
      this.#maxParameters < 2 ||
      this.#maxParameters > MAX_PARAMETERS
    ) {
      throw new StrataError('INVALID_CONFIG', `maxParameters must be an integer from 2 to ${MAX_PARAMETERS}`);
    }
    this.#versioned = {
      db,
      transactions: this.#transactions,
      versions: strataVersionsTable(options.migrationsSchema),
      maxParameters: this.#maxParameters,
    };
  }

  /** Key lists longer than the parameter limit are split; each part is one statement. */
  #idChunks(ids: readonly unknown[]): unknown[][] {
    return chunk(ids, this.#maxParameters - 1);
  }

  findMany(schema: CompiledSchema, ids: readonly unknown[]): Promise<Row[]> {
    if (ids.length === 0) return Promise.resolve([]);
    const pk = schema.primaryKey.column;
    return driver(async () => {
      const parts = await Promise.all(
        this.#idChunks(ids).map((part) => this.#db.select().from(schema.table).where(inArray(pk, part))),
      );
      return parts.flat();
    });
  }

  exists(schema: CompiledSchema, id: unknown): Promise<boolean> {
    const pk = schema.primaryKey.column;
    return driver(async () => {
      const rows = await this.#db
        .select({ one: sql<number>`1` })
        .from(schema.table)
        .where(eq(pk, id))
        .limit(1);
      return rows.length > 0;
    });
  }

  async upsertMany(schema: CompiledSchema, rows: readonly Row[]): Promise<Row[]> {
    const [result] = await this.#write([{ schema, upserts: rows, deletes: [] }]);
    return result!.upserted;
  }

  async deleteMany(schema: CompiledSchema, ids: readonly unknown[]): Promise<number> {
    const [result] = await this.#write([{ schema, upserts: [], deletes: ids }]);
    return result!.deleted;
  }

  transact(ops: readonly WriteOp[]): Promise<WriteOpResult[]> {
    return this.#write(ops);
  }

  /**
   * Every op's statements, in op order, all or nothing. No statement: no request. One statement is
   * atomic by itself, so it skips the transaction's extra round trips (BEGIN/COMMIT).
   */
  #write(ops: readonly WriteOp[]): Promise<WriteOpResult[]> {
    return driver(async () => {
      const plans = ops.map((op) => planWrite(op, this.#maxParameters));
      const total = plans.reduce((sum, plan) => sum + statementCount(plan), 0);
      const build = (db: Database): WriteStatement[] => plans.flatMap((plan) => writeStatements(db, plan));
      if (total === 0) return writeResults(plans, []);
      const results = total === 1 ? [await build(this.#db)[0]!] : await this.#transactions.all(build);
      return writeResults(plans, results);
    });
  }

  applyVersioned(ops: readonly VersionedWriteOp[]): Promise<VersionedWriteResult[]> {
    return driver(() => applyVersionedWrites(this.#versioned, ops));
  }

  replaceValues(schema: CompiledSchema, changes: readonly ValueReplacement[]): Promise<unknown[]> {
    if (changes.length === 0) return Promise.resolve([]);
    return driver(async () => {
      const build = (db: Database) => changes.map((change) => replaceStatement(db, schema, change));
      const results =
        changes.length === 1 ? [await build(this.#db)[0]!] : await this.#transactions.all(build);
      return results.flatMap((rows) => rows.map((row) => row.id));
    });
  }

  scan(schema: CompiledSchema, options: ScanOptions): Promise<Row[]> {
    const pk = schema.primaryKey.column;
    return driver(() =>
      this.#db
        .select()
        .from(schema.table)
        .where(options.after === undefined ? undefined : gt(pk, options.after))
        .orderBy(asc(pk))
        .limit(options.limit),
    );
  }

  search(schema: CompiledSchema, query: SearchQuery): Promise<Row[]> {
    return driver(async () => searchStatement(this.#db, schema, query));
  }

  count(schema: CompiledSchema, where?: SQL): Promise<number> {
    return driver(async () => {
      const [row] = await countStatement(this.#db, schema, where);
      return row?.n ?? 0;
    });
  }

  migrate(schemas: readonly CompiledSchema[]): Promise<MigrationResult> {
    return driver(() =>
      runMigration(this.#transactions, this.#db, this.#migrations, this.#versioned.versions, schemas),
    );
  }

  migrationStatus(): Promise<MigrationRecord[]> {
    return driver(() => readRecords(this.#db, this.#migrations));
  }
}

/**
 * The L3 tier over a Drizzle Postgres database, whatever its driver.
 * @example
 * import { drizzle } from 'drizzle-orm/neon-http';
 * const l3 = createDrizzleL3(drizzle(env.DATABASE_URL)); // neon-http: detected as 'batch'
 * await l3.migrate([userSchema]);
 * const [user] = await l3.findMany(userSchema, ['u1']);
 * const top = await l3.search(userSchema, { where: gt(users.level, 10), orderBy: [{ key: 'level', desc: true }], limit: 20, offset: 0 });
 * // One transaction (one batch on neon-http): both ops or neither.
 * await l3.transact([
 *   { schema: userSchema, upserts: [{ id: 'u1', level: 11 }], deletes: ['u2'] },
 *   { schema: auditSchema, upserts: [{ id: 'a1', user: 'u1', action: 'level-up' }], deletes: [] },
 * ]);
 */
export function createDrizzleL3(db: Database, options: DrizzleL3Options = {}): L3Tier {
  return new DrizzleL3(db, options);
}
