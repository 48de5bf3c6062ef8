import type { SQL } from 'drizzle-orm';
import type { CompiledSchema } from '../schema/types.js';

export type Row = Record<string, unknown>;

export interface MigrationRecord {
  id: number;
  /** Schema name, or null for a SQL file applied by migrateFrom. */
  schema: string | null;
  /** What was applied: `auto:{table}:{fingerprint}` for migrate(), the file name for migrateFrom. */
  fileName: string;
  checksum: string;
  appliedAt: Date;
  /** The statements that ran. */
  statements: string[];
}

export interface MigrationResult {
  /** Statements executed; empty when the database already matched. */
  applied: string[];
  records: MigrationRecord[];
}

export interface ScanOptions {
  /** Rows ordered by primary key, strictly after this key. */
  after?: unknown;
  limit: number;
}

/** A search the engine has already validated: column keys exist, limits are sane. */
export interface SearchQuery {
  /** A condition built with Drizzle: values are bound parameters, never spliced. Absent: all rows. */
  where?: SQL;
  /** JS column keys, in order of precedence. */
  orderBy?: readonly { key: string; desc: boolean }[];
  limit: number;
  offset: number;
  /** JS column keys to select; absent: every column. */
  fields?: readonly string[];
}

/** One schema's part of a transaction: rows to upsert, then ids to delete. */
export interface WriteOp {
  schema: CompiledSchema;
  upserts: readonly Row[];
  deletes: readonly unknown[];
}

export interface WriteOpResult {
  /** Rows as stored, for `upserts`. */
  upserted: Row[];
  /** How many of `deletes` existed. */
  deleted: number;
}

/** One schema's part of a write-behind flush: each write carries the version it was enqueued with. */
export interface VersionedWriteOp {
  schema: CompiledSchema;
  upserts: readonly { row: Row; version: number }[];
  deletes: readonly { id: unknown; version: number }[];
}

export interface VersionedWriteResult {
  /** Ids whose write was applied (its version was the newest seen for that key). */
  applied: string[];
  /** Ids skipped because a newer (or equal, already applied) version is already stored. */
  skipped: string[];
}

/** One row's compare-and-set for `L3Tier.replaceValues`. */
export interface ValueReplacement {
  /** The row's primary key. */
  id: unknown;
  /** Column values (JS keys) the row must still hold; `null` means IS NULL. */
  expect: Row;
  /** Column values (JS keys) to set when it does. */
  set: Row;
}

/**
 * The L3 seam: Postgres through Drizzle, whatever its driver (node-postgres, neon-serverless,
 * neon-http, pglite). Rows use the Drizzle table's JS keys and JS types (Date, bigint, Uint8Array).
 * Implementations throw on failure; the engine maps errors to L3_UNAVAILABLE and applies timeouts.
 */
export interface L3Tier {
  readonly name: string;
  /** Rows whose primary key is in `ids`, in no particular order. One statement. */
  findMany(schema: CompiledSchema, ids: readonly unknown[]): Promise<Row[]>;
  /** Whether a row with this primary key exists, reading no other column. */
  exists(schema: CompiledSchema, id: unknown): Promise<boolean>;
  /**
   * `INSERT … ON CONFLICT (pk) DO UPDATE`, chunked under Postgres' 65,535-parameter limit, all chunks
   * in one transaction (`db.batch` where the driver has no interactive transactions). Columns in
   * `schema.insertOnlyKeys` keep their stored value on conflict. Resolves the rows as stored.
   */
  upsertMany(schema: CompiledSchema, rows: readonly Row[]): Promise<Row[]>;
  /** Deletes rows by primary key; resolves how many existed. */
  deleteMany(schema: CompiledSchema, ids: readonly unknown[]): Promise<number>;
  /** Rows in primary-key order, for warming caches page by page. */
  scan(schema: CompiledSchema, options: ScanOptions): Promise<Row[]>;
  /** Rows matching the query, in its order. One statement. */
  search(schema: CompiledSchema, query: SearchQuery): Promise<Row[]>;
  /** How many rows match `where` (all rows when absent). One statement. */
  count(schema: CompiledSchema, where?: SQL): Promise<number>;
  /**
   * Every op, across schemas, atomically: one interactive transaction, or one `db.batch` where the
   * driver has no interactive transactions. Upserts chunk as in `upsertMany`. All or nothing.
   */
  transact(ops: readonly WriteOp[]): Promise<WriteOpResult[]>;
  /**
   * Applies write-behind writes atomically, guarded by version: a write lands only if its version
   * is newer than the last one applied to that key (kept in `_strata_versions`, deletes included, so
   * a late older write can neither overwrite a newer row nor resurrect a deleted one). Replaying a
   * batch applies nothing twice. One transaction (or one `db.batch`).
   */
  applyVersioned(ops: readonly VersionedWriteOp[]): Promise<VersionedWriteResult[]>;
  /**
   * Sets columns of existing rows by primary key, each only where the row still holds its `expect`
   * values (compare-and-set: a row written meanwhile is left as it is). A plain UPDATE of the `set`
   * columns: no insert, no other column, no version recorded. All in one transaction (or one
   * `db.batch`). Resolves the ids that changed. Used by key rotation (`Strata.reencrypt`).
   */
  replaceValues(schema: CompiledSchema, changes: readonly ValueReplacement[]): Promise<unknown[]>;
  /** Additive, idempotent DDL for the schemas' tables, recorded in `_strata_migrations`. */
  migrate(schemas: readonly CompiledSchema[]): Promise<MigrationResult>;
  migrationStatus(): Promise<MigrationRecord[]>;
}
