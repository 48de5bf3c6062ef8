import { PgDialect } from 'drizzle-orm/pg-core';
import { toHex } from '../bytes.js';
import type { CompiledSchema } from '../schema/types.js';
import { canonicalValue } from './canonical.js';
import { compileQuery } from './compile.js';
import type { Query } from './types.js';

const dialect = new PgDialect();
const encoder = new TextEncoder();

/**
 * The query in one canonical string, after `compileQuery` (so it validates, and equal queries
 * written differently normalise alike): schema name and column fingerprint; the where clause as
 * the SQL that runs (text whitespace-collapsed, `$n` renumbered) with its parameters type-tagged
 * (see `canonicalValue`); orderBy as JS keys with direction, primary-key tie-breaker included;
 * limit; offset; fields as sorted JS keys (rows are objects: their order changes nothing).
 * `forceL3` / `forceL2` are left out: they choose tiers, not rows.
 *
 * @example normalizeQuery(players, Q().where('level > $1', 10).build());
 * // '{"v":1,"schema":["players","…"],"where":"(level > $1)","params":[["n","10"]],…}'
 */
export function normalizeQuery(schema: CompiledSchema, query: Query): string {
  const compiled = compileQuery(schema, query);
  const where = compiled.where ? dialect.sqlToQuery(compiled.where) : undefined;
  return JSON.stringify({
    v: 1,
    schema: [schema.name, schema.fingerprint],
    where: where?.sql ?? null,
    params: where ? where.params.map(canonicalValue) : [],
    orderBy: (compiled.orderBy ?? []).map((o) => [o.key, o.desc]),
    limit: compiled.limit,
    offset: compiled.offset,
    fields: compiled.fields ? [...compiled.fields].sort() : null,
  });
}

/**
 * SHA-256 (Web Crypto) hex of {@link normalizeQuery}: the `searchCached` list key. Queries that
 * must return the same rows share it; any difference in where text, argument value or type,
 * order, direction, limit, offset or fields changes it.
 * @example await queryFingerprint(players, Q().where('level > $1', 10).build()); // '3f9a…' (64 hex)
 */
export async function queryFingerprint(schema: CompiledSchema, query: Query): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', encoder.encode(normalizeQuery(schema, query)));
  return toHex(new Uint8Array(digest));
}
