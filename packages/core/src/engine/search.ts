import { StrataError } from '../errors.js';
import type { L2Entry } from '../l2/types.js';
import type { L3Tier, Row, SearchQuery } from '../l3/types.js';
import { compileQuery } from '../query/compile.js';
import { queryFingerprint } from '../query/fingerprint.js';
import type { Query } from '../query/types.js';
import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import { cacheFill } from './read-path.js';
import type { SchemaRuntime } from './schema-runtime.js';

/**
 * Runs a query on L3 (the read replica when the schema has one). Full rows fill L1 and L2 on the
 * way — unless the query projects fields, says `forceL3`, or a write in this instance ran meanwhile.
 */
export async function searchRows(ctx: EngineContext, rt: SchemaRuntime, query: Query): Promise<Row[]> {
  const compiled = compileQuery(rt.schema, query);
  const epoch = rt.writeEpoch;
  const quiet = rt.writesInFlight === 0;
  const rows = await readL3(ctx, rt, compiled);
  if (!compiled.fields && !query.forceL3 && quiet && rt.writeEpoch === epoch)
    await fillRows(ctx, rt, rows, query);
  return rows.map((row) => row.plain);
}

/**
 * A query whose whole result list is cached in L2 under the SHA-256 of the normalised query. The
 * list is tagged with the schema's search generation, which every write moves on in the same
 * request as the write itself: a list older than the last write is never served. One L2 request
 * reads both the generation and the list.
 */
export async function searchCachedRows(ctx: EngineContext, rt: SchemaRuntime, query: Query): Promise<Row[]> {
  if (!rt.l2 || query.forceL3) return searchRows(ctx, rt, query);
  const compiled = compileQuery(rt.schema, query);
  const hash = await queryFingerprint(rt.schema, query);
  const name = rt.schema.name;
  let listKey: string | undefined;
  let tag = 0;
  try {
    listKey = rt.keys.list(await rt.generation(), hash);
    const [generation, list] = await rt.l2.getMany([rt.keys.searchGenerationKey, listKey]);
    tag = generation ? Number(generation.value) : 0;
    const cached = list ? readList(rt, list, tag, hash) : undefined;
    if (cached) {
      ctx.hit('l2', name);
      const plain = await Promise.all(cached.map((stored) => decrypt(rt, stored)));
      return plain.map((row) => rt.rows.toCachedView(row));
    }
    ctx.miss('l2', name);
  } catch (err) {
    ctx.tolerate(name, 'l2', 'searchCached', err);
    listKey = undefined;
  }
  const rows = await readL3(ctx, rt, compiled);
  if (listKey) {
    const key = listKey;
    const value = JSON.stringify([tag, hash, rows.map((row) => rt.rows.toL2(row.stored))]);
    await ctx.defer(name, 'l2', 'fill', () => rt.l2!.setMany([{ key, value, ttlMs: rt.l2TtlMs }]));
  }
  return rows.map((row) => rt.rows.toCachedView(row.plain));
}

/** How many rows match the query's where (all rows without one). Always L3 (or its replica). */
export async function countRows(ctx: EngineContext, rt: SchemaRuntime, query: Query): Promise<number> {
  const { where } = compileQuery(rt.schema, query);
  try {
    return await reader(rt).count(rt.schema, where);
  } catch (err) {
    throw ctx.l3Error(rt.schema.name, 'count', err);
  }
}

function reader(rt: SchemaRuntime): L3Tier {
  if (!rt.reader) {
    throw new StrataError('INVALID_QUERY', `schema ${rt.schema.name} has no L3: it cannot be searched`, {
      details: { schema: rt.schema.name },
    });
  }
  return rt.reader;
}

async function readL3(
  ctx: EngineContext,
  rt: SchemaRuntime,
  query: SearchQuery,
): Promise<{ stored: Row; plain: Row }[]> {
  const pk = rt.schema.primaryKey.key;
  // Encrypted fields are bound to their row's id: a projection needs the primary key to decrypt.
  const addPk = query.fields !== undefined && !query.fields.includes(pk);
  const effective = addPk ? { ...query, fields: [...query.fields!, pk] } : query;
  let rows: Row[];
  try {
    rows = await reader(rt).search(rt.schema, effective);
  } catch (err) {
    throw ctx.l3Error(rt.schema.name, 'search', err);
  }
  ctx.counters.l3Reads += 1;
  return Promise.all(
    rows.map(async (stored) => {
      const plain = await decrypt(rt, stored);
      if (addPk) {
        delete stored[pk];
        delete plain[pk];
      }
      return { stored, plain };
    }),
  );
}

function decrypt(rt: SchemaRuntime, stored: Row): Promise<Row> {
  const id = stored[rt.schema.primaryKey.key];
  return id === undefined ? Promise.resolve(stored) : rt.rows.decryptRow(stored, idKey(id as Id));
}

async function fillRows(
  ctx: EngineContext,
  rt: SchemaRuntime,
  rows: readonly { stored: Row; plain: Row }[],
  query: Query,
): Promise<void> {
  const pk = rt.schema.primaryKey.key;
  if (!query.forceL2) {
    for (const { plain } of rows)
      rt.l1?.set(idKey(plain[pk] as Id), rt.protect(rt.rows.toL1(plain)), rt.l1TtlMs);
  }
  if (!rt.l2 || rows.length === 0) return;
  const l2 = rt.l2;
  const generation = await rt.generation().catch(() => undefined);
  if (generation === undefined) return;
  const entries = rows.map(({ stored }) =>
    cacheFill(rt.keys.row(generation, idKey(stored[pk] as Id)), rt.rows.toL2(stored), rt.l2TtlMs),
  );
  await ctx.defer(rt.schema.name, 'l2', 'fill', () => l2.setMany(entries));
}

/**
 * The stored rows of a cached list, or undefined when it is older than the last write or was made
 * for another query. A list that does not parse is reported by the caller as an L2 failure.
 */
function readList(rt: SchemaRuntime, entry: L2Entry, tag: number, hash: string): Row[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(entry.value);
  } catch (cause) {
    throw new StrataError('DECODE_FAILED', `schema ${rt.schema.name}: a cached search list is not JSON`, {
      cause,
    });
  }
  if (!Array.isArray(parsed) || parsed[0] !== tag || parsed[1] !== hash || !Array.isArray(parsed[2]))
    return undefined;
  return (parsed[2] as unknown[]).map((value) => {
    if (typeof value !== 'string')
      throw new StrataError('DECODE_FAILED', 'a cached search row is not a string');
    return rt.rows.fromL2(value);
  });
}
