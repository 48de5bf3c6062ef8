import type { SearchQuery } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';
import { resolveColumns } from './columns.js';
import { invalidQuery } from './invalid.js';
import { checkLimit, checkOffset } from './limits.js';
import type { Query } from './types.js';
import { whereConditionToSql } from './where.js';

/**
 * Validates a {@link Query} against a schema and turns it into the {@link SearchQuery} L3 runs.
 * Nothing from the query reaches SQL as text except the trusted `where` text (checked by
 * `whereToSql`); column names are resolved to the schema's JS keys or refused.
 *
 * - `orderBy` / `fields`: JS keys or SQL names, mapped to JS keys, de-duplicated; anything else is
 *   INVALID_QUERY (`details.field` 'orderBy' / 'fields', `details.value` truncated).
 * - The primary key is appended to `orderBy` as a tie-breaker (alone when `orderBy` is empty), in
 *   the query's direction: without a total order, `offset` pages may skip or repeat rows and equal
 *   queries could return different rows under one cache fingerprint.
 * - `fields` is passed as given: the primary key is NOT added. Rows are objects, and a projection is
 *   never cached per row, so the result has exactly the asked-for keys (the engine adds and strips
 *   the key itself where it needs it, e.g. to decrypt).
 * - `limit` 1..10,000 (see MAX_LIMIT for why), `offset` an integer >= 0.
 * - A Drizzle `SQL` where passes through. Its columns are not checked against this schema: a
 *   condition may legitimately name other tables in a subquery, and telling that from a mistake
 *   would mean walking the SQL tree. A condition on another table's column fails in Postgres.
 *
 * @example
 * compileQuery(players, Q().where('level > $1', 10).orderBy('score').desc().limit(25).build());
 * // { where: SQL, orderBy: [{ key: 'score', desc: true }, { key: 'id', desc: true }], limit: 25, offset: 0 }
 */
export function compileQuery(schema: CompiledSchema, query: Query): SearchQuery {
  if (typeof query !== 'object' || query === null) throw invalidQuery('query', 'a query must be an object');
  // Q()… without .build() (Go's builder too needed Build()): its fields would be refused one by one.
  if (typeof (query as { build?: unknown }).build === 'function')
    throw invalidQuery('query', 'a query builder: end it with .build()');
  if (query.desc !== undefined && typeof query.desc !== 'boolean') {
    throw invalidQuery('desc', 'desc must be a boolean');
  }
  const desc = query.desc === true;
  const limit = checkLimit(query.limit);
  const offset = checkOffset(query.offset);
  const order = resolveColumns(schema, query.orderBy, 'orderBy');
  const fields = resolveColumns(schema, query.fields, 'fields');
  const pk = schema.primaryKey.key;
  if (!order.includes(pk)) order.push(pk);
  const compiled: SearchQuery = {
    orderBy: Object.freeze(order.map((key) => Object.freeze({ key, desc }))),
    limit,
    offset,
  };
  if (query.where !== undefined) compiled.where = whereConditionToSql(query.where);
  if (fields.length > 0) compiled.fields = Object.freeze(fields);
  return Object.freeze(compiled);
}
