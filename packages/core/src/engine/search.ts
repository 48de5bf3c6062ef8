import { StrataError } from '../errors.js';
import { decodeEnvelope, encodeEnvelope } from '../l2/envelope.js';
import { PUT } from '../l2/scripts.js';
import { countedSearch } from '../l2/search-generation.js';
import type { L3Tier, PendingWrites, Row, SearchQuery, StoredRow } from '../l3/types.js';
import { compileQuery } from '../query/compile.js';
import { canonicalQuery, fingerprintOf, knownFingerprint } from '../query/fingerprint.js';
import { checkTags } from '../query/tags.js';
import type { Query } from '../query/types.js';
import { fillCaches } from './cache-fill.js';
import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import { l1Value, refusesL1 } from './l1-copies.js';
import { readWatched } from './l2-row-reads.js';
import { stampedOwner, stampOf } from './l2-values.js';
import { countedTags, uncountedTags } from './list-tags.js';
import { pendingWrites } from './pending-index.js';
import type { ReadStatus } from './read-status.js';
import type { SchemaCache, Versioned } from './schema-cache.js';
import { decodeSearchList, encodeSearchList } from './search-list.js';

/** What a search read: each row as stored with its version, and its plaintext at the same index. */
interface Read {
  found: readonly StoredRow[];
  /** `found[i].row` itself when the schema encrypts nothing; a new array, the caller's to keep. */
  plain: Row[];
}

/**
 * Runs a query on L3 (the read replica when the schema has one). Full rows fill L1 and L2 on the
 * way, each with its version — unless the query projects fields, says `forceL3`, or a write in
 * this instance ran meanwhile. L1 takes them before the call returns (the rows it returns are the
 * ones L1 keeps, frozen, unless it held them already: see `offerToL1`), except for a write-behind
 * schema, whose L1 takes only what L2 took; the L2 fill is deferred work, as a get's L3 fill is: awaited with
 * `background: 'await'`, else run after the call returned (see `deferFill`).
 */
export async function searchRows(ctx: EngineContext, cache: SchemaCache, query: Query): Promise<Row[]> {
  const compiled = compileQuery(cache.schema, query);
  const epoch = cache.writeEpoch;
  const quiet = cache.writesInFlight === 0;
  // A tagged schema's rows take the tick known before they were read (see RowTags).
  if (cache.tags) await cache.tags.clock.known();
  const stamp = cache.tags?.clock.stamp() ?? 0;
  const pending = await pendingWrites(ctx, cache);
  const read = await readL3(ctx, cache, compiled, pending);
  if (!compiled.fields && !query.forceL3 && quiet && cache.writeEpoch === epoch) {
    // Write-behind: L2 may hold a queued row Postgres does not have yet (another instance's write),
    // so L1 takes only the rows L2 took, after its fill. A tagged schema's L1 takes them in the
    // fill too, which checks their tags.
    const behind = cache.l2 !== undefined && cache.writeMode === 'write-behind';
    const forL2 = offerToL1(
      ctx,
      cache,
      unpended(cache, read, pending),
      !query.forceL2 && !behind && !cache.tags,
    );
    if (forL2.length > 0) {
      const l1 = query.forceL2 ? false : behind ? 'afterL2' : !!cache.tags;
      await deferFill(ctx, cache, () =>
        // A write that began here since the read wins: its values, not these, belong in L2.
        cache.writeEpoch === epoch ? fillCaches(cache, ctx, forL2, { l1, direct: true, stamp }) : undefined,
      );
    }
  }
  // search returns whole rows (omitCache columns too): they come from Postgres.
  return compiled.fields ? read.plain.map((row) => strip(cache, compiled, row, false)) : read.plain;
}

/**
 * The rows a search read without those a pending write laid over Postgres: the caches hold those
 * writes already (pending, at their own versions), which the flush replaces with the rows as applied.
 */
function unpended(cache: SchemaCache, read: Read, pending: PendingWrites | undefined): Read {
  if (!pending?.length) return read;
  const ids = new Set(pending.map((w) => w.id));
  const pk = cache.schema.primaryKey.key;
  const out: Read = { found: [], plain: [] };
  read.found.forEach((f, i) => {
    if (ids.has(idKey(f.row[pk] as Id))) return;
    (out.found as StoredRow[]).push(f);
    out.plain.push(read.plain[i]!);
  });
  return out;
}

/**
 * Offers each row to L1 (when `l1`), in one pass, and returns those L2 should take. A row L1 already
 * holds at this version or a newer one came by L2 (a write's commit, an L2 read, an earlier fill):
 * L2 is not written again for it, nor L1 at the same version (the same write: were L1's copy the
 * row as a write-behind set sent it, that write's flush replaces it with the row as applied). A
 * search repeated over the same rows then writes no tier at all; the rows it returns that L1 did
 * not take are the caller's own, unfrozen.
 */
function offerToL1(ctx: EngineContext, cache: SchemaCache, read: Read, l1: boolean): Versioned[] {
  const pk = cache.schema.primaryKey.key;
  const forL2: Versioned[] = [];
  for (let i = 0; i < read.found.length; i++) {
    const { row: stored, version } = read.found[i]!;
    const plain = read.plain[i]!;
    const key = idKey(stored[pk] as Id);
    // One peek per row decides both tiers (`offerL1`'s rule, without peeking again).
    const held = cache.l1?.peek(key)?.version;
    const toL2 = cache.l2 !== undefined && !(held !== undefined && held >= version);
    if (held !== undefined && held > version) {
      // A write landed while this row was read: the newer copy stays.
      if (l1) ctx.counters.fencedFills += 1;
    } else if (l1 && held !== version) {
      // A newer version announced (a bus message, a change applied here) and a replica that has
      // not replayed it: L1 does not take the older row, as `offerL1` would not.
      if (refusesL1(cache, key, version)) ctx.counters.fencedFills += 1;
      else cache.l1?.set(key, l1Value(cache, plain, true), cache.holdMs(cache.l1TtlMs), version);
    }
    // The caller gets these objects: L2 encodes them later only when L1 froze them, else a copy.
    if (toL2)
      forL2.push({ key, version, plain, stored: Object.isFrozen(stored) ? stored : structuredClone(stored) });
  }
  return forL2;
}

/**
 * A query whose whole result list is cached in L2 under the SHA-256 of the normalised query, tagged
 * with the schema's search generation, which every write moves on in the same request as the write
 * itself: a list older than the last write is never served. One L2 request reads both the generation
 * and the list; the list is written only over an older one (its version is the generation it was
 * read under). The fingerprint is hashed once per distinct query (memoised by its canonical string)
 * and the list is one string of row encodings (see search-list.ts), each decoded once.
 */
export async function searchCachedRows(
  ctx: EngineContext,
  cache: SchemaCache,
  query: Query,
  out?: { status?: ReadStatus },
): Promise<Row[]> {
  if (!cache.l2 || query.forceL3) {
    if (out) out.status = listStatus(cache, 'l3', 0, 0);
    return searchRows(ctx, cache, query);
  }
  const compiled = compileQuery(cache.schema, query);
  const tags = query.tags ? checkTags(query.tags) : [];
  const bucketed = cache.buckets.length > 1;
  // Tags are part of what the list is: the same query under other tags is another list.
  const canonical = tagged(canonicalQuery(cache.schema, compiled), tags);
  const queryHash = knownFingerprint(canonical) ?? (await fingerprintOf(canonical));
  // The list carries its tags' generations as read before Postgres was asked (see `listHash`).
  let hash = queryHash;
  const name = cache.schema.name;
  let listKey: string | undefined;
  let listGeneration = 0;
  let tag = 0;
  let home = cache.buckets[0]!;
  try {
    let list: string | null | undefined;
    if (bucketed) {
      // Over several buckets: the vector of every bucket's search generation (see search-vector.ts).
      const read = await ctx.config.bucketing!.readVector(cache, queryHash, tags);
      ({ home, list, generation: listGeneration, tag } = read);
      const values = uncountedTags(read.tags) ? await countedTags(cache, tags, read.tags) : read.tags;
      hash = listHash(`${queryHash}@${read.vector}`, values);
      listKey = home.keys.list(queryHash);
    } else {
      listKey = cache.keys.list(queryHash);
      const read = await readWatched(cache, [
        cache.keys.searchGenerationKey,
        listKey,
        ...tags.map((t) => cache.keys.tag(t)),
      ]);
      list = read.values[1];
      const values = read.values.slice(2);
      hash = listHash(queryHash, uncountedTags(values) ? await countedTags(cache, tags, values) : values);
      listGeneration = read.generation;
      tag = countedSearch(read.values[0]);
    }
    if (!tag) {
      // A search generation that does not count (lost, counted up from nothing since: see
      // l2/search-generation.ts) names no list: none served, none stored, until a generation
      // read seeds it (this instance's next, now due).
      for (const bucket of cache.buckets) bucket.generation?.forget();
      listKey = list = undefined;
    }
    const cached = list ? readList(cache, list, tag, hash, listGeneration) : undefined;
    const plain = cached && (await decryptAll(cache, cached.rows));
    if (plain && (await rowsValid(cache, plain, cached.stamp))) {
      ctx.hit('l2', name);
      if (out) out.status = listStatus(cache, 'l2', tag, cached.expiresAt);
      return plain.map((row) => strip(cache, compiled, row, true));
    }
    ctx.miss('l2', name);
  } catch (err) {
    ctx.tolerate(name, 'l2', 'searchCached', err);
    listKey = undefined;
  }
  if (cache.tags) await cache.tags.clock.known();
  const stamp = cache.tags?.clock.stamp() ?? 0;
  // Read after the search generation: a write acknowledged before it moved is in the index or in
  // Postgres, so the list cached under it has every write it stands for.
  const pending = await pendingWrites(ctx, cache);
  const read = await readL3(ctx, cache, compiled, pending);
  if (out) out.status = listStatus(cache, 'l3', tag, 0);
  if (listKey) {
    const generationOfList = listGeneration;
    const key = listKey;
    const expiresAt = cache.l2TtlMs > 0 ? cache.l2Now() + cache.l2TtlMs : 0;
    // Encoded now: the caller gets these rows and may change them before the deferred write runs.
    const encoded = read.found.map(({ row }) => cache.rows.toL2(row));
    await deferFill(ctx, cache, () => {
      const value = encodeEnvelope({
        kind: 'l',
        pending: false,
        version: tag,
        generation: generationOfList,
        expiresAt,
        freshUntil: 0,
        owner: stampedOwner(cache, stamp),
        payload: encodeSearchList(hash, encoded),
      });
      // A list read under an older generation is not written into a newer one.
      return cache.runWatched(
        PUT,
        (g) =>
          g === generationOfList
            ? { keys: [key], args: ['1', String(tag), String(Math.ceil(cache.l2TtlMs)), value] }
            : { keys: [], args: ['0'] },
        {},
        home,
      );
    });
  }
  return read.plain.map((row) => strip(cache, compiled, row, true));
}

/**
 * A search's L2 write as deferred work (`EngineContext.defer`). Unless the caller awaits it
 * (`background: 'await'`), it starts after the current task: encoding a thousand rows and building
 * the script's arguments then costs the caller nothing, instead of running before its await resumes.
 */
function deferFill(ctx: EngineContext, cache: SchemaCache, work: () => Promise<unknown> | undefined) {
  const later = ctx.config.background !== 'await';
  return ctx.defer(cache.schema.name, 'l2', 'fill', async () => {
    if (later) await nextTask();
    await work();
  });
}

function nextTask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** How many rows match the query's where (all rows without one). Always L3 (or its replica). */
export async function countRows(ctx: EngineContext, cache: SchemaCache, query: Query): Promise<number> {
  const { where } = compileQuery(cache.schema, query);
  const pending = await pendingWrites(ctx, cache);
  try {
    return await reader(cache).count(cache.schema, where, pending);
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
async function readL3(
  ctx: EngineContext,
  cache: SchemaCache,
  query: SearchQuery,
  pending: PendingWrites | undefined,
): Promise<Read> {
  const pk = cache.schema.primaryKey.key;
  const addPk = query.fields !== undefined && !query.fields.includes(pk);
  let effective = addPk ? { ...query, fields: [...query.fields!, pk] } : query;
  if (pending?.length) effective = { ...effective, pending };
  let found: StoredRow[];
  try {
    found = await reader(cache).search(cache.schema, effective);
  } catch (err) {
    throw ctx.l3Error(cache.schema.name, 'search', err);
  }
  ctx.counters.l3Reads += 1;
  // Without encrypted fields the stored row is the plain one: no promise per row.
  const plain = await decryptAll(
    cache,
    found.map(({ row }) => row),
  );
  return { found, plain };
}

/** The row as the caller sees it (the cached view, or all of it), without a primary key the projection did not ask for. */
function strip(cache: SchemaCache, query: SearchQuery, plain: Row, cachedView: boolean): Row {
  const view = cachedView ? cache.rows.toCachedView(plain) : plain;
  const pk = cache.schema.primaryKey.key;
  if (query.fields === undefined || query.fields.includes(pk)) return view;
  const { [pk]: _omitted, ...rest } = view;
  return rest;
}

/** The plaintext of stored rows; without encrypted fields, the rows themselves (no promise per row). */
function decryptAll(cache: SchemaCache, stored: Row[]): Row[] | Promise<Row[]> {
  if (cache.schema.encryptedKeys.length === 0) return stored;
  return Promise.all(stored.map((row) => decrypt(cache, row)));
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
): { rows: Row[]; stamp: number; expiresAt: number } | undefined {
  const e = decodeEnvelope(value);
  if (e?.kind !== 'l' || e.version !== tag || e.generation < generation) return undefined;
  const stamp = stampOf(cache, e.owner);
  if (stamp < 0) return undefined;
  const rows = decodeSearchList(e.payload, hash)?.map((item) => cache.rows.fromL2(item));
  return rows && { rows, stamp, expiresAt: e.expiresAt };
}

/** A tagged schema's list is valid while none of its rows' tags moved after it was read. */
async function rowsValid(cache: SchemaCache, rows: readonly Row[], stamp: number): Promise<boolean> {
  const tags = cache.tags;
  if (!tags) return true;
  if (rows.some((row) => tags.check(row, stamp) === undefined)) await tags.know(rows);
  return rows.every((row) => tags.check(row, stamp) === true);
}

/** The canonical query with its tags, when it has any (the fingerprint of an untagged query is unchanged). */
function tagged(canonical: string, tags: readonly string[]): string {
  return tags.length === 0 ? canonical : `${canonical}\u0000tags\u0000${tags.join('\u0000')}`;
}

/**
 * What a tagged list's payload starts with: the query's hash and the value of each tag when the
 * list was read (`#3.0.12`). `invalidateTags` moves a tag on, so a list read before it no longer
 * matches and is a miss: one request drops every list with it, with no index of lists to keep or
 * SCAN. A tag read missing (never moved, or evicted) is first put at the tag clock's value (see
 * list-tags.ts): a list is never stored under, nor named by, a missing tag.
 */
function listHash(queryHash: string, generations: readonly (string | null)[]): string {
  return generations.length === 0 ? queryHash : `${queryHash}#${generations.map((g) => g ?? '0').join('.')}`;
}

/**
 * A cached search's status (see `Strata.searchCachedWithStatus`): never stale (a list older than the
 * last write is never served), its version the search generation it was read under; from L2, how long
 * the list has left (`expiresAt` on Redis' clock); from Postgres, read now.
 */
function listStatus(cache: SchemaCache, tier: 'l2' | 'l3', version: number, expiresAt: number): ReadStatus {
  const ttl = cache.l2TtlMs;
  const freshForMs = tier === 'l3' ? ttl || null : expiresAt ? expiresAt - cache.l2Now() : null;
  const ageMs = tier === 'l3' ? 0 : freshForMs === null || ttl === 0 ? null : Math.max(0, ttl - freshForMs);
  return { tier, stale: false, grace: false, refreshing: false, version, freshForMs, ageMs };
}
