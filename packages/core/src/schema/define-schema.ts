import type { InferSelectModel } from 'drizzle-orm';
import { getTableColumns, is } from 'drizzle-orm';
import { getTableConfig, PgTable } from 'drizzle-orm/pg-core';
import type { ColumnKinds } from '../codec/types.js';
import type { Duration } from '../duration.js';
import { StrataError, schemaError } from '../errors.js';
import { checkColumnOptions } from './column-options.js';
import { compileColumns } from './columns.js';
import { columnsFingerprint } from './fingerprint.js';
import { tableIdentity } from './identity.js';
import { checkKnownOptions } from './known-options.js';
import { checkPolicies } from './policy-checks.js';
import { idRuleOf } from './primary-key.js';
import type {
  CompiledSchema,
  FieldOptions,
  IndexDefinition,
  L1Policy,
  L2Policy,
  L3Policy,
  SchemaHooks,
  WriteMode,
} from './types.js';
import { createRowValidator, type RowValidator } from './validation.js';

/** JS keys of a table's columns. */
export type ColumnKey<T extends PgTable> = Extract<keyof T['_']['columns'], string>;

/**
 * What `defineSchema` takes: the Drizzle table and Strata's policies for it.
 * @example
 * const definition: SchemaDefinition<typeof players> = { table: players, l1: { ttl: '1m' }, writeMode: 'write-through' };
 * export const playerSchema = defineSchema(definition);
 */
export interface SchemaDefinition<T extends PgTable> {
  /** Collection name used in API calls and L2 keys. Default: the table's name. */
  name?: string;
  /** A Drizzle `pgTable`: the same object `drizzle-kit push` reads. The primary key comes from it. */
  table: T;
  /** L1 (isolate memory) policy; `false` keeps this schema out of L1. */
  l1?: L1Policy | false;
  /** L2 (Redis) policy; `false` runs L1 + L3 only. Omitted: L2 with defaults when the instance has one. */
  l2?: L2Policy | false;
  /** L3 (Postgres) policy; `false` makes L2 the source of truth (e.g. sessions). */
  l3?: L3Policy<ColumnKey<T>> | false;
  writeMode?: WriteMode;
  fields?: { [K in ColumnKey<T>]?: FieldOptions };
  /** Extra indexes for `migrate()`, beside those declared on the Drizzle table. */
  indexes?: readonly IndexDefinition<ColumnKey<T>>[];
  hooks?: SchemaHooks<InferSelectModel<T>>;
  /** Checked after the table-derived zod schema: a Standard Schema (zod…) or a function. */
  validate?: RowValidator<InferSelectModel<T>>;
  /** Cache "not found" for this long (in L1 and L2) so repeated misses skip L3. Default: off. */
  negativeTtl?: Duration;
  /**
   * Stale-while-revalidate: once a cached row's TTL (its fresh time, per tier) has run out, reads
   * still answer it at once for this long and refresh it in the background (one refresh per key per
   * instance, one per key across instances through a short Redis lease). Default: off.
   * @example defineSchema({ table: leaderboard, l1: { ttl: '5s' }, l2: { ttl: '1m' }, stale: '5m' })
   */
  stale?: Duration;
  /**
   * Stale-if-error: when Postgres fails or times out, a read answers the
   * last cached row for up to this long past its fresh time instead of failing, and asks the source
   * again at most once a second per key. Never a row older than this instance's own write of it,
   * never one that was invalidated or deleted. Default: off.
   */
  grace?: Duration;
  /**
   * The row's tags, from the row itself, so a row has the same tags whichever call or tier brought
   * it: `strata.invalidateTags([tag])` then drops every cached row with the tag (and every cached
   * search list tagged with it), on every instance. Tags: 1–128 printable ASCII characters without
   * spaces, at most 32 per row; a write whose row gives bad ones fails with VALIDATION_FAILED.
   * Read only cached columns (not omitCache or omitL1 ones): L1 and L2 copies have no others.
   * @example defineSchema({ table: scores, tags: (row) => [`league:${row.leagueId}`] })
   */
  tags?: (row: InferSelectModel<T>) => readonly string[];
}

/** Keys whose field options say `omitCache: true`: absent from every cached read. */
type OmitCacheKeys<F> = {
  [K in keyof F]-?: NonNullable<F[K]> extends { omitCache: true } ? K : never;
}[keyof F] &
  string;

/**
 * A schema handle: pass it (or its name) to every Strata call; results are typed from the table.
 * `Omitted` are the omitCache columns, which cached reads do not carry.
 * @example
 * export const playerSchema: Schema<typeof players> = defineSchema({ table: players });
 */
export interface Schema<T extends PgTable = PgTable, Omitted extends string = string>
  extends CompiledSchema<InferSelectModel<T>> {
  /** Type-only: the row type. */
  readonly $row: InferSelectModel<T>;
  readonly $table: T;
  /** Type-only: the omitCache keys. */
  readonly $omitted: Omitted;
}

// Schema names and key prefixes end up in Redis keys and messages: no separators, no spaces.
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Defines a schema from a Drizzle table. Checks it at once: a table without a primary key, a key of
 * a type Strata cannot cache by, or a field option that cannot hold, throws here rather than at the
 * first request.
 * @example
 * export const players = pgTable('players', { id: text('id').primaryKey(), level: integer('level').notNull() });
 * export const playerSchema = defineSchema({ table: players, l1: { ttl: '60s' }, l2: { ttl: '30m' } });
 */
export function defineSchema<
  T extends PgTable,
  const F extends { [K in ColumnKey<T>]?: FieldOptions } = Record<never, never>,
>(definition: SchemaDefinition<T> & { fields?: F }): Schema<T, OmitCacheKeys<F>> {
  const config = getTableConfig(checkTable(definition));
  const name = definition.name ?? config.name;
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new StrataError(
      'INVALID_MODEL',
      `schema name ${JSON.stringify(name)} must match [A-Za-z0-9_.-]{1,64}`,
      {
        details: { schema: name },
      },
    );
  }
  checkKnownOptions(name, definition as unknown as Record<string, unknown>);
  checkPolicies(name, definition as unknown as Record<string, unknown>);
  if (config.primaryKeys.length > 0) {
    throw new StrataError('INVALID_MODEL', `schema ${name}: composite primary keys are not supported yet`, {
      details: { schema: name },
    });
  }
  const fields = (definition.fields ?? {}) as Record<string, FieldOptions | undefined>;
  const columns = compileColumns(name, getTableColumns(definition.table), fields);
  const primaryKey = columns.find((c) => c.column.primary);
  if (!primaryKey) {
    throw new StrataError(
      'NO_PRIMARY_KEY',
      `schema ${name}: table ${config.name} has no primary key: mark its key column .primaryKey()`,
      { details: { schema: name } },
    );
  }
  const idRule = idRuleOf(name, primaryKey);
  if (definition.tags !== undefined && typeof definition.tags !== 'function') {
    throw new StrataError('INVALID_MODEL', `schema ${name}: tags must be a function of the row`, {
      details: { schema: name, field: 'tags' },
    });
  }
  checkL2Policy(name, definition.l2);
  checkColumnOptions(name, columns, (definition.l3 || undefined)?.partitionBy, definition.indexes);
  // The Go library took a DSN here: untyped, it would pass and fail the first search with a TypeError.
  const replica = (definition.l3 || undefined)?.readReplica;
  if (replica !== undefined && typeof (replica as { findMany?: unknown } | null)?.findMany !== 'function')
    throw schemaError(
      'INVALID_MODEL',
      name,
      'l3.readReplica must be an L3 tier: createDrizzleL3(drizzle(replicaPool)), not a URL',
      {
        details: { field: 'l3.readReplica' },
      },
    );
  const keyOf = (c: { key: string }) => c.key;
  const l2Columns = columns.filter((c) => !c.options.omitCache);
  const validate = createRowValidator(name, definition.table, definition.validate);
  const compiled: CompiledSchema<InferSelectModel<T>> = {
    name,
    identity: tableIdentity(config.schema, config.name),
    table: definition.table,
    tableName: config.name,
    pgSchema: config.schema,
    primaryKey,
    idRule,
    columns,
    columnsByKey: new Map(columns.map((c) => [c.key, c])),
    kinds: Object.fromEntries(columns.map((c) => [c.key, c.kind])) as ColumnKinds,
    l2Keys: l2Columns.map(keyOf),
    l1Keys: l2Columns.filter((c) => !c.options.omitL1).map(keyOf),
    encryptedKeys: columns.filter((c) => c.options.encrypted).map(keyOf),
    insertOnlyKeys: columns.filter((c) => c.options.autoNowAdd).map(keyOf),
    // Tagged rows carry a stamp (see RowTags): a value written untagged is never read as tagged.
    fingerprint: `${columnsFingerprint(columns)}${definition.tags ? 't' : ''}`,
    l1: definition.l1,
    l2: definition.l2,
    l3: definition.l3,
    writeMode: definition.writeMode,
    indexes: definition.indexes ?? [],
    hooks: definition.hooks ?? {},
    negativeTtl: definition.negativeTtl,
    stale: definition.stale,
    grace: definition.grace,
    tags: definition.tags as CompiledSchema['tags'],
    validate,
  };
  return compiled as Schema<T, OmitCacheKeys<F>>;
}

/** The definition's table, or INVALID_MODEL (not a TypeError from deep inside Drizzle). */
function checkTable(definition: unknown): PgTable {
  const table: unknown = (definition as { table?: unknown } | null | undefined)?.table;
  // `is` reads the prototype's constructor, which a null-prototype object does not have.
  if (typeof table === 'object' && table !== null && Object.getPrototypeOf(table) !== null) {
    if (is(table, PgTable)) return table;
  }
  throw new StrataError(
    'INVALID_MODEL',
    'defineSchema needs `table`: a Drizzle pgTable (drizzle-orm/pg-core)',
    {
      details: { field: 'table' },
    },
  );
}

function checkL2Policy(schema: string, l2: L2Policy | false | undefined): void {
  const keyPrefix = typeof l2 === 'object' && l2 !== null ? l2.keyPrefix : undefined;
  if (keyPrefix === undefined || (typeof keyPrefix === 'string' && NAME.test(keyPrefix))) return;
  throw new StrataError(
    'INVALID_MODEL',
    `schema ${schema}: l2.keyPrefix must match [A-Za-z0-9_.-]{1,64}, got ${JSON.stringify(String(keyPrefix)).slice(0, 70)}`,
    { details: { schema, field: 'l2.keyPrefix' } },
  );
}
