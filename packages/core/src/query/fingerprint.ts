import { PgDialect } from 'drizzle-orm/pg-core';
import { toHex } from '../bytes.js';
import type { SearchQuery } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';
import { canonicalValue } from './canonical.js';
import { compileQuery } from './compile.js';
import type { Query } from './types.js';

const dialect = new PgDialect();
const encoder = new TextEncoder();

/**
 * Distinct queries whose fingerprint is kept: an app runs a bounded set of query shapes, but their
 * arguments vary, so the memo is bounded (the oldest entry goes first) to stay small.
 */
const MEMO_ENTRIES = 2_048;

/** Canonical query string -> its SHA-256 hex. Keyed by the whole string: no two queries share an entry. */
const memo = new Map<string, string>();

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
  return canonicalQuery(schema, compileQuery(schema, query));
}

/**
 * {@link normalizeQuery} of a query `compileQuery` already compiled (the search path compiles once).
 * @example canonicalQuery(players, compileQuery(players, Q().where('level > $1', 10).build()));
 */
export function canonicalQuery(schema: CompiledSchema, compiled: SearchQuery): string {
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
  return fingerprintOf(normalizeQuery(schema, query));
}

/**
 * The SHA-256 hex of a canonical query string, computed once per distinct string: later calls
 * answer from the memo without hashing (and without an await when the caller reads
 * {@link knownFingerprint} first).
 * @example await fingerprintOf(canonicalQuery(players, compiled)); // '3f9a…' (64 hex)
 */
export async function fingerprintOf(canonical: string): Promise<string> {
  const known = memo.get(canonical);
  if (known !== undefined) return known;
  const digest = await crypto.subtle.digest('SHA-256', encoder.encode(canonical));
  const hash = toHex(new Uint8Array(digest));
  if (memo.size >= MEMO_ENTRIES) memo.delete(memo.keys().next().value as string);
  memo.set(canonical, hash);
  return hash;
}

/**
 * The memoised fingerprint of a canonical query string, or undefined before {@link fingerprintOf}
 * has hashed it. Synchronous: the warm search path takes no await for its key.
 * @example knownFingerprint(canonicalQuery(players, compiled)) ?? (await fingerprintOf(canonical));
 */
export function knownFingerprint(canonical: string): string | undefined {
  return memo.get(canonical);
}
