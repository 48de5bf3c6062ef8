import { and, type SQL } from 'drizzle-orm';
import { invalidQuery } from './invalid.js';
import { checkLimit, checkOffset, DEFAULT_LIMIT } from './limits.js';
import { checkTags } from './tags.js';
import type { Query, WhereText } from './types.js';
import { isDrizzleSql, whereConditionToSql, whereToSql } from './where.js';

/**
 * A fluent, immutable query builder (`Q()`, as in the Go library Strata): every call returns a new
 * builder, so a base query can be shared and refined. `build()` returns a frozen plain {@link Query}.
 *
 * - `where` twice combines the conditions with AND; each text keeps its own `$1..$n` numbering.
 * - `orderBy` and `fields` append; duplicates are dropped when the query runs.
 * - `desc()` sorts every `orderBy` column descending (one flag, as in the Go library Strata);
 *   `asc()` undoes it.
 * - Text, limit and offset are checked here, so a mistake throws at the line that made it; column
 *   names are checked against the schema when the query runs.
 *
 * `K` optionally narrows column names: `Q<ColumnKey<typeof players>>()`.
 *
 * @example
 * const q = Q().where('region = $1 AND level > $2', 'eu-west', 10).orderBy('score').desc()
 *   .limit(25).offset(50).fields('id', 'username', 'score').build();
 * const byLevel = Q().where(gt(players.level, 10)).build(); // a Drizzle condition works too
 */
export function Q<K extends string = string>(): QueryBuilder<K> {
  return new QueryBuilder<K>(EMPTY);
}

const EMPTY: Query = {
  orderBy: [],
  desc: false,
  limit: DEFAULT_LIMIT,
  offset: 0,
  fields: [],
  forceL3: false,
  forceL2: false,
};

class QueryBuilder<K extends string = string> {
  readonly #state: Query;

  /** Use {@link Q}. */
  constructor(state: Query) {
    this.#state = state;
  }

  /** A condition as SQL text with `$1..$n` placeholders and their values (always bound). */
  where(text: string, ...args: unknown[]): QueryBuilder<K>;
  /** A Drizzle condition, e.g. `gt(players.level, 10)`; `undefined` (an empty `and()`) adds nothing. */
  where(condition: SQL | undefined): QueryBuilder<K>;
  where(condition: string | SQL | undefined, ...args: unknown[]): QueryBuilder<K> {
    let next: WhereText | SQL;
    if (typeof condition === 'string') {
      whereToSql(condition, args); // throws here, at the caller's line, when the text is bad
      next = Object.freeze({ text: condition, args: Object.freeze([...args]) });
    } else if (condition === undefined || isDrizzleSql(condition)) {
      if (args.length > 0) throw invalidQuery('where', 'where: a Drizzle condition takes no arguments');
      if (condition === undefined) return this;
      next = condition;
    } else {
      throw invalidQuery('where', 'where takes SQL text with $n arguments or a Drizzle SQL condition');
    }
    const prev = this.#state.where;
    // `and()` of two defined conditions is always defined.
    const where = prev === undefined ? next : and(whereConditionToSql(prev), whereConditionToSql(next))!;
    return this.#with({ where });
  }

  /** Columns to sort by (JS keys or SQL names), in order of precedence; appends to earlier calls. */
  orderBy(...columns: K[]): QueryBuilder<K> {
    return this.#with({ orderBy: [...this.#state.orderBy, ...columns] });
  }

  /** Sort descending. */
  desc(): QueryBuilder<K> {
    return this.#with({ desc: true });
  }

  /** Sort ascending (the default). */
  asc(): QueryBuilder<K> {
    return this.#with({ desc: false });
  }

  /** At most `n` rows, 1..10,000; 0 means the default, 100 (as in the Go library Strata). */
  limit(n: number): QueryBuilder<K> {
    return this.#with({ limit: checkLimit(n) });
  }

  /** Skip the first `n` rows (default 0). */
  offset(n: number): QueryBuilder<K> {
    return this.#with({ offset: checkOffset(n) });
  }

  /** Return only these columns (JS keys or SQL names); appends to earlier calls. Default: all. */
  fields(...columns: K[]): QueryBuilder<K> {
    return this.#with({ fields: [...this.#state.fields, ...columns] });
  }

  /** Read from Postgres only: skip L1 and L2, and don't fill them. Wins over `forceL2`. */
  forceL3(): QueryBuilder<K> {
    return this.#with({ forceL3: true });
  }

  /** Skip L1 only. */
  forceL2(): QueryBuilder<K> {
    return this.#with({ forceL2: true });
  }

  /**
   * Tags for the list `searchCached` caches for this query (appends to earlier calls):
   * `strata.invalidateTags(['league:7'])` drops every cached list with that tag, on every instance,
   * in one Redis request however many lists carry it. Checked here (INVALID_QUERY naming the tag).
   * @example strata.searchCached(scores, Q().where('league_id = $1', 7).orderBy('points').desc().tags('league:7').build())
   */
  tags(...tags: string[]): QueryBuilder<K> {
    return this.#with({ tags: checkTags([...(this.#state.tags ?? []), ...tags]) });
  }

  /** The query as frozen plain data. */
  build(): Query {
    const { where, tags, ...rest } = this.#state;
    const query: Query = {
      ...rest,
      orderBy: Object.freeze([...rest.orderBy]),
      fields: Object.freeze([...rest.fields]),
    };
    if (tags !== undefined) query.tags = Object.freeze([...tags]);
    if (where !== undefined) query.where = where;
    return Object.freeze(query);
  }

  #with(patch: Partial<Query>): QueryBuilder<K> {
    return new QueryBuilder<K>({ ...this.#state, ...patch });
  }
}
