import { StrataError } from '../errors.js';
import { decodeEnvelope, encodeEnvelope } from '../l2/envelope.js';
import { PUT } from '../l2/scripts.js';
import type { L3Tier, Row, SearchQuery } from '../l3/types.js';
import { compileQuery } from '../query/compile.js';
import { queryFingerprint } from '../query/fingerprint.js';
import type { Query } from '../query/types.js';
import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import type { SchemaCache } from './schema-cache.js';

interface Found {
  stored: Row;
  plain: Row;
  version: number;
}

/**
 * Runs a query on L3 (the read replica when the schema has one). Full rows fill L1 and L2 on the
 * way, each with its version — unless the query projects fields, says `forceL3`, or a write in
 * this instance ran meanwhile.
 */
export async function searchRows(ctx: EngineContext, cache: SchemaCache, query: Query): Promise<Row[]> {
  const compiled = compileQuery(cache.schema, query);
  const epoch = cache.writeEpoch;
  const quiet = cache.writesInFlight === 0;
  const rows = await readL3(ctx, cache, compiled);
  if (!compiled.fields && !query.forceL3 && quiet && cache.writeEpoch === epoch) {
    const pk = cache.schema.primaryKey.key;
    const found = rows.map((r) => ({ key: idKey(r.stored[pk] as Id), ...r }));
    await cache.fill(ctx, found, { l1: !query.forceL2 });
  }
  // search returns whole rows (omitCache columns too): they come from Postgres.
  return rows.map((row) => strip(cache, compiled, row.plain, false));
}

/**
 * A query whose whole result list is cached in L2 under the SHA-256 of the normalised query, tagged
 * with the schema's search generation, which every write moves on in the same request as the write
 * itself: a list older than the last write is never served. One L2 request reads both the generation
 * and the list; the list is written only over an older one (its version is the generation it was
 * read under).
 */
export async function searchCachedRows(ctx: EngineContext, cache: SchemaCache, query: Query): Promise<Row[]> {
  if (!cache.l2 || query.forceL3) return searchRows(ctx, cache, query);
  const compiled = compileQuery(cache.schema, query);
  const hash = await queryFingerprint(cache.schema, query);
  const name = cache.schema.name;
  let listKey: string | undefined;
  let listGeneration = 0;
  let tag = 0;
  try {
    listKey = cache.keys.list(hash);
    const read = await cache.readWatched([cache.keys.searchGenerationKey, listKey]);
    const [searchGeneration, list] = read.values;
    listGeneration = read.generation;
    tag = searchGeneration ? Number(searchGeneration) : 0;
    const cached = list ? readList(cache, list, tag, hash, listGeneration) : undefined;
    if (cached) {
      ctx.hit('l2', name);
      const plain = await Promise.all(cached.map((stored) => decrypt(cache, stored)));
      return plain.map((row) => strip(cache, compiled, row, true));
    }
    ctx.miss('l2', name);
  } catch (err) {
    ctx.tolerate(name, 'l2', 'searchCached', err);
    listKey = undefined;
  }
  const rows = await readL3(ctx, cache, compiled);
  if (listKey) {
    const generationOfList = listGeneration;
    const key = listKey;
    const value = encodeEnvelope({
      kind: 'l',
      pending: false,
      version: tag,
      generation: listGeneration,
      expiresAt: cache.l2TtlMs > 0 ? ctx.config.clock.now() + cache.l2TtlMs : 0,
      freshUntil: 0,
      owner: cache.owner,
      payload: JSON.stringify([hash, rows.map((row) => cache.rows.toL2(row.stored))]),
    });
    await ctx.defer(name, 'l2', 'fill', () =>
      // A list read under an older generation is not written into a newer one.
      cache.runWatched(PUT, (g) =>
        g === generationOfList
          ? { keys: [key], args: ['1', String(tag), String(Math.ceil(cache.l2TtlMs)), value] }
          : { keys: [], args: ['0'] },
      ),
    );
  }
  return rows.map((row) => strip(cache, compiled, row.plain, true));
}

/** How many rows match the query's where (all rows without one). Always L3 (or its replica). */
export async function countRows(ctx: EngineContext, cache: SchemaCache, query: Query): Promise<number> {
  const { where } = compileQuery(cache.schema, query);
  try {
    return await reader(cache).count(cache.schema, where);
  } catch (err) {
    throw ctx.l3Error(cache.schema.name, 'count', err);
  }
}

function reader(cache: SchemaCache): L3Tier {
  if (!cache.reader) {
    throw new StrataError('INVALID_QUERY', `schema ${cache.schema.name} has no L3: it cannot be searched`, {
      details: { schema: cache.schema.name },
    });
  }
  return cache.reader;
}

/**
 * Reads from L3. A projection always includes the primary key (encrypted fields are bound to their
 * row's id, so decrypting needs it; a cached list keeps it too); `strip` takes it out again for the
 * caller when the query did not ask for it.
 */
async function readL3(ctx: EngineContext, cache: SchemaCache, query: SearchQuery): Promise<Found[]> {
  const pk = cache.schema.primaryKey.key;
  const addPk = query.fields !== undefined && !query.fields.includes(pk);
  const effective = addPk ? { ...query, fields: [...query.fields!, pk] } : query;
  let rows: Awaited<ReturnType<L3Tier['search']>>;
  try {
    rows = await reader(cache).search(cache.schema, effective);
  } catch (err) {
    throw ctx.l3Error(cache.schema.name, 'search', err);
  }
  ctx.counters.l3Reads += 1;
  return Promise.all(
    rows.map(async ({ row, version }) => ({ stored: row, plain: await decrypt(cache, row), version })),
  );
}

/** The row as the caller sees it (the cached view, or all of it), without a primary key the projection did not ask for. */
function strip(cache: SchemaCache, query: SearchQuery, plain: Row, cachedView: boolean): Row {
  const view = cachedView ? cache.rows.toCachedView(plain) : plain;
  const pk = cache.schema.primaryKey.key;
  if (query.fields === undefined || query.fields.includes(pk)) return view;
  const { [pk]: _omitted, ...rest } = view;
  return rest;
}

function decrypt(cache: SchemaCache, stored: Row): Promise<Row> {
  const id = stored[cache.schema.primaryKey.key];
  return id === undefined ? Promise.resolve(stored) : cache.rows.decryptRow(stored, idKey(id as Id));
}

/**
 * The stored rows of a cached list, or undefined when it is older than the last write, was made for
 * another query, or is not one this format reads. A list that does not parse is an L2 failure.
 */
function readList(
  cache: SchemaCache,
  value: string,
  tag: number,
  hash: string,
  generation: number,
): Row[] | undefined {
  const e = decodeEnvelope(value);
  if (e?.kind !== 'l' || e.version !== tag || e.generation < generation || e.owner !== cache.owner)
    return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(e.payload);
  } catch (cause) {
    throw new StrataError('DECODE_FAILED', `schema ${cache.schema.name}: a cached search list is not JSON`, {
      cause,
    });
  }
  if (!Array.isArray(parsed) || parsed[0] !== hash || !Array.isArray(parsed[1])) return undefined;
  return (parsed[1] as unknown[]).map((item) => {
    if (typeof item !== 'string')
      throw new StrataError('DECODE_FAILED', 'a cached search row is not a string');
    return cache.rows.fromL2(item);
  });
}
