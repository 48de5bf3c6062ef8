import type { SQL } from 'drizzle-orm';

/** A WHERE clause as text: SQL with `$1..$n` placeholders and their values. */
export interface WhereText {
  text: string;
  args: readonly unknown[];
}

/**
 * What `Q()…build()` produces (Query in the Go library Strata). Plain data: column names are
 * checked against the schema when the query runs (INVALID_QUERY), values always travel as bound
 * parameters.
 * @example
 * const top: Query = Q().where('region = $1', 'eu-west').orderBy('score').desc().limit(10).build();
 * const rows = await strata.search(playerSchema, top);
 */
export interface Query {
  /** SQL text with `$n` placeholders, or a Drizzle condition such as `gt(players.level, 10)`. */
  where?: WhereText | SQL;
  /** JS column keys (or SQL column names) to sort by, in order of precedence. */
  orderBy: readonly string[];
  desc: boolean;
  /** Default 100, as in the Go library Strata. */
  limit: number;
  offset: number;
  /** Column projection; empty = all columns. */
  fields: readonly string[];
  /** Skip L1 and L2 entirely (also: don't fill them). */
  forceL3: boolean;
  /** Skip L1 only. */
  forceL2: boolean;
  /** `searchCached` only: tags of the cached list, sorted; `invalidateTags` of any drops it. */
  tags?: readonly string[];
}
