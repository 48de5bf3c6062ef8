import type { InferInsertModel, InferSelectModel } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import type { Duration } from '../duration.js';
import type { Schema } from '../schema/define-schema.js';

/**
 * Every column of a schema's row (what `get(…, { complete: true })` returns).
 * @example const user: FullRowOf<typeof userSchema> = await strata.get(userSchema, 'u1', { complete: true });
 */
export type FullRowOf<S> = S extends Schema<infer T, string> ? InferSelectModel<T> : Record<string, unknown>;
/**
 * A cached read: typed from the table, without the omitCache columns (caches never hold them).
 * @example const player: RowOf<typeof playerSchema> = await strata.get(playerSchema, 'p1');
 */
export type RowOf<S> =
  S extends Schema<infer T, infer O> ? Omit<InferSelectModel<T>, O> : Record<string, unknown>;
/**
 * What `set` accepts: columns with defaults may be left out.
 * @example const row: InsertOf<typeof playerSchema> = { id: 'p1', level: 1 }; await strata.set(playerSchema, row);
 */
export type InsertOf<S> = S extends Schema<infer T, string> ? InferInsertModel<T> : Record<string, unknown>;
/** A schema as the operations take it: the defined schema, or its name. */
export type AnySchema = Schema<PgTable, string> | string;

/**
 * Options of `get` and `find`.
 * @example await strata.get(userSchema, 'u1', { complete: true }); // omitCache columns too, from L3
 */
export interface GetOptions {
  /** Also return `omitCache` columns, reading them from L3 (caches never hold them). */
  complete?: boolean;
  /**
   * How stale an answer this call takes, for a schema with a `stale` window (which otherwise answers
   * a row past its TTL at once and refreshes it in the background): `false` only a fresh row, a
   * Duration a row stale for at most that long (HTTP's max-stale); older ones are read through (grace
   * still answers if the source fails). Default: true (the schema's window). Never widens it.
   * @example await strata.get(priceSchema, 'sku-1', { stale: false });
   * @example await strata.get(priceSchema, 'sku-1', { stale: '10s' });
   */
  stale?: boolean | Duration;
}
