import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { ColumnKind, ColumnKinds } from '../codec/types.js';
import type { Duration } from '../duration.js';
import type { EvictionPolicy } from '../l1/types.js';
import type { L3Tier } from '../l3/types.js';

/**
 * How writes flow through the tiers (WriteMode in the Go library Strata): `write-through` commits
 * to Postgres before it answers; `write-through-l1-async` too, and L2, but drops L1's copy for the next read to fill;
 * `write-behind` answers once the write is queued and flushes it to Postgres in batches.
 * @example defineSchema({ table: events, writeMode: 'write-behind' })
 */
export type WriteMode = 'write-through' | 'write-through-l1-async' | 'write-behind';

/**
 * Strata's own per-column options; everything Drizzle expresses is read from the table instead.
 * @example
 * defineSchema({
 *   table: users,
 *   fields: { passwordHash: { omitCache: true }, email: { encrypted: true }, createdAt: { autoNowAdd: true } },
 * })
 */
export interface FieldOptions {
  /** Never stored in L1 or L2: Postgres only (e.g. a password hash). */
  omitCache?: boolean;
  /** Never stored in L1; still cached (encoded, encrypted if so marked) in L2. */
  omitL1?: boolean;
  /** AES-256-GCM at rest: ciphertext in Postgres and L2, plaintext only in this process's L1. */
  encrypted?: boolean;
  /** Set to the current time on the first insert, never changed after. */
  autoNowAdd?: boolean;
  /** Set to the current time on every write. */
  autoNow?: boolean;
}

export interface L1Policy {
  /** Default: the instance's `l1.defaultTtl` (0 = never expire). */
  ttl?: Duration;
  /**
   * Entries kept for this schema in this instance (not per shard as in the Go library Strata).
   * 0 = unlimited.
   */
  maxEntries?: number;
  eviction?: EvictionPolicy;
}

export interface L2Policy {
  /** Default: the instance's `l2.defaultTtl`. 0 = never expire. */
  ttl?: Duration;
  /** Replaces the schema name in L2 keys: `strata:{keyPrefix}:…`. */
  keyPrefix?: string;
}

export interface L3Policy<Columns extends string = string> {
  /**
   * Where `search` and `count` run (ReadReplica in the Go library Strata), e.g.
   * `createDrizzleL3(replicaDb)`. With `replicas: readYourWrites` in the config (adapter-node's
   * createStrata passes it), read-your-writes for this instance: a read goes to the replica only
   * once it has replayed this instance's last write (by WAL position, see `L3Tier.walPosition`),
   * else to the primary, and a replica read that fails is answered by the primary. Without it, the
   * replica takes its reads unchecked. docs/semantics.md, "Read replicas".
   */
  readReplica?: L3Tier;
  /**
   * Which reads `readReplica` takes: 'search' (default): `search`, `searchCached` and `count`;
   * 'all': key reads that miss L1 and L2 (`get`, `getMany`) too, under the same read-your-writes rule.
   */
  replicaReads?: 'search' | 'all';
  /** Creates the table partitioned by this column (`PARTITION BY RANGE`); migrate() only. */
  partitionBy?: Columns;
}

export interface IndexDefinition<Columns extends string = string> {
  fields: readonly Columns[];
  unique?: boolean;
  name?: string;
}

/** Lifecycle callbacks (SchemaHooks in the Go library Strata). A hook that throws aborts with HOOK_PANIC. */
export interface SchemaHooks<Row> {
  /** Runs before any tier is touched: may change the row (a copy of the caller's) or reject it by throwing. */
  beforeSet?(row: Row): void | Promise<void>;
  afterSet?(row: Readonly<Row>): void | Promise<void>;
  beforeGet?(id: string): void | Promise<void>;
  afterGet?(row: Readonly<Row>): void | Promise<void>;
  /** An L1 entry left memory (capacity, expiry, delete, clear). */
  onEvict?(id: string, row: Readonly<Row>, reason: string): void;
  /** A write-behind write gave up after its retries. */
  onWriteError?(id: string, error: unknown): void;
}

/** A schema's `tags` function, as the engine reads it for any schema (a method, so any row type fits). */
type RowTagger<Row> = { tag(row: Row): readonly string[] }['tag'];

/** A column as the engine needs it: JS key, SQL name, codec kind and Strata's options. */
export interface CompiledColumn {
  key: string;
  name: string;
  sqlType: string;
  kind: ColumnKind;
  notNull: boolean;
  hasDefault: boolean;
  column: PgColumn;
  options: Readonly<FieldOptions>;
}

/**
 * How an id is checked for a primary key (engine/ids.ts `normalizeId`): the kinds whose Postgres
 * `pk::text` is exactly the cache key Strata makes from a normalized id.
 */
export type IdRule =
  | { readonly kind: 'string' }
  | { readonly kind: 'uuid' }
  | { readonly kind: 'integer'; readonly min: number; readonly max: number }
  | { readonly kind: 'bigint' };

/**
 * A registered schema, resolved once: what every tier and the engine read. `defineSchema` returns
 * one (a typed {@link Schema}); name this type where any schema will do.
 * @example
 * const schemas: CompiledSchema[] = [playerSchema, scoreSchema];
 * const strata = new Strata({ l3, schemas });
 */
export interface CompiledSchema<Row extends Record<string, unknown> = Record<string, unknown>> {
  readonly name: string;
  /**
   * The qualified table name (`tenant_a.players`, or `players` when the table names no Postgres
   * schema): what names the schema across instances (L2 keys, queue and bus messages, version
   * rows), so two tenants' tables of one name never share cached rows. `%`, `.` and `*` of a name
   * are percent-encoded (see `tableIdentity`): an unqualified table `"a.b"` is `a%2Eb`, not `a.b`.
   */
  readonly identity: string;
  readonly table: PgTable;
  readonly tableName: string;
  readonly pgSchema: string | undefined;
  readonly primaryKey: CompiledColumn;
  /** What an id must be for this primary key. */
  readonly idRule: IdRule;
  readonly columns: readonly CompiledColumn[];
  readonly columnsByKey: ReadonlyMap<string, CompiledColumn>;
  readonly kinds: ColumnKinds;
  /** Keys kept in L2 (all but omitCache) and in L1 (all but omitCache and omitL1). */
  readonly l2Keys: readonly string[];
  readonly l1Keys: readonly string[];
  readonly encryptedKeys: readonly string[];
  /** Short hash of the cached shape (columns, types, nullability, which are cached or encrypted): part of every L2 key. */
  readonly fingerprint: string;
  readonly l1: L1Policy | false | undefined;
  readonly l2: L2Policy | false | undefined;
  readonly l3: L3Policy | false | undefined;
  readonly writeMode: WriteMode | undefined;
  readonly indexes: readonly IndexDefinition[];
  readonly hooks: SchemaHooks<Row>;
  readonly negativeTtl: Duration | undefined;
  /** Stale-while-revalidate and stale-if-error windows past each tier's TTL (see `SchemaDefinition`). */
  readonly stale: Duration | undefined;
  readonly grace: Duration | undefined;
  /** The row's tags (see `SchemaDefinition.tags`); undefined: its rows have none. */
  readonly tags: RowTagger<Row> | undefined;
  /** Keys an upsert must not overwrite on conflict (autoNowAdd). */
  readonly insertOnlyKeys: readonly string[];
  /** Checks a row before any tier is touched; rejects with VALIDATION_FAILED naming the field. */
  validate(row: unknown): Promise<Row>;
}
