import { MARK } from '../l2/scripts.js';
import type { KeyRouter } from './buckets.js';
import { marker } from './l2-values.js';
import type { SchemaCache } from './schema-cache.js';
import type { MissedWrite } from './watched-writes.js';
import { pick, writeByBucket } from './watched-writes.js';

/** Keys per MARK request (see `supersede`). */
export const MARK_CHUNK = 1_000;

/**
 * Keys changed outside Strata, to `versions`: L1 drops what it holds older, and L2 marks each key
 * superseded at its version (see `MARK`) with the search generation moving on, one request per
 * bucket the keys touch. The keys stay fenced until every bucket has answered, like a write: a
 * read in flight, or one that reads L2 before the marker lands, must not fill L1 with the older
 * row. The marker lives the tombstone TTL: long enough to outlast any read that began before the
 * change, short of filling Redis with markers. If L2 cannot be reached in a bucket, that bucket's
 * generation moves on before its next use (as for `drop`). Resolves the buckets L2 missed, or
 * undefined when every marker landed (or there is no L2: nothing to mark); the caller counts and
 * logs a miss, once per call (see `applyCapturedChanges`).
 */
export async function supersede(
  cache: SchemaCache,
  keys: readonly string[],
  versions: readonly number[],
): Promise<MissedWrite | undefined> {
  cache.beginWrite(keys);
  keys.forEach((key, i) => {
    const held = cache.l1?.peek(key);
    if (held && held.version <= versions[i]!) cache.l1!.delete(key);
    // Announced here as the bus announces it to the other instances (`applyRemote`): L1 takes
    // nothing older from now on, not even a row read after the marker landed (a read replica that
    // has not replayed the change answers a search with the old row).
    if (cache.l1) cache.announced.note(key, versions[i]!);
  });
  try {
    return await mark(cache, keys, versions);
  } finally {
    cache.endWrite(keys);
  }
}

/**
 * MARK requests of at most MARK_CHUNK keys each, one round after another (a round: one request
 * per bucket touched, in parallel): a statement that changed 200,000 rows must not hold Redis (a
 * single-threaded server) for a second or more in one script. Each request moves the search
 * generation on too. A bucket whose request failed is sent no more (its generation moves on
 * instead); the other buckets' rounds go on, since their generations do not move.
 */
async function mark(
  cache: SchemaCache,
  keys: readonly string[],
  versions: readonly number[],
): Promise<MissedWrite | undefined> {
  if (!cache.l2) return undefined;
  const router = cache.buckets.length > 1 ? cache.router : undefined;
  const failed = new Set<number>();
  let error: unknown;
  for (const round of markRounds(keys, router)) {
    const at =
      failed.size === 0 ? round : round.filter((i) => !failed.has(router ? router.bucket(keys[i]!) : 0));
    if (at.length === 0) continue;
    const missed = await markChunk(cache, pick(keys, at), pick(versions, at));
    if (!missed) continue;
    if (failed.size === 0) error = missed.error;
    for (const b of missed.buckets) failed.add(b);
  }
  if (failed.size === 0) return undefined;
  const buckets = [...failed].sort((x, y) => x - y);
  cache.recordMissedWrite(buckets);
  return { buckets, error };
}

/**
 * MARK of these keys, one request per bucket in parallel, every one awaited before cache resolves
 * (the fence and the bus message wait for the slowest bucket, not the first to fail); the
 * buckets L2 failed, if any.
 */
async function markChunk(
  cache: SchemaCache,
  keys: readonly string[],
  versions: readonly number[],
): Promise<MissedWrite | undefined> {
  const { missed } = await writeByBucket(cache, keys, (bucket, at) => {
    const part = pick(keys, at);
    const options = { bumps: true, redoAfterReset: true, writes: part };
    // A write-behind table's outside writes take no version of their own (its versions come
    // from Redis: see docs/change-capture.md), so a copy at the same version is the old row.
    const outside = cache.writeMode === 'write-behind';
    return cache.runWatched(
      MARK,
      (g) => markCall(cache, g, part, pick(versions, at), outside),
      options,
      bucket,
    );
  });
  // With no L3, L2 is the source of truth: the change cannot be applied.
  if (missed && !cache.l3) throw missed.error;
  return missed;
}

/**
 * MARK's row keys and args for `keys` at `versions` in generation `g`: an `x` marker each, living
 * the tombstone TTL, that a copy at least as new keeps out (`sameIsOld`: one at the same version
 * is replaced too).
 */
export function markCall(
  cache: SchemaCache,
  g: number,
  keys: readonly string[],
  versions: readonly number[],
  sameIsOld: boolean,
) {
  const ttl = cache.tombstoneTtlMs();
  const expiresAt = cache.l2Now() + ttl;
  const args = [String(keys.length), String(cache.keepMs(ttl))];
  for (const version of versions) {
    args.push(String(sameIsOld ? version + 1 : version), marker(cache, version, g, expiresAt));
  }
  return { keys: cache.rowKeys(keys), args };
}

/**
 * The positions of `keys` in each round of MARK requests: MARK_CHUNK of them in order over one
 * bucket (`router` undefined); over several, each bucket's next MARK_CHUNK, so that a round sends
 * one full request per bucket rather than a thin one per bucket for every MARK_CHUNK keys.
 */
function markRounds(keys: readonly string[], router: KeyRouter | undefined): number[][] {
  const byBucket = new Map<number, number[]>();
  keys.forEach((key, i) => {
    const b = router ? router.bucket(key) : 0;
    byBucket.get(b)?.push(i) ?? byBucket.set(b, [i]);
  });
  const rounds: number[][] = [];
  for (const at of byBucket.values()) {
    for (let r = 0; r * MARK_CHUNK < at.length; r++) {
      const part = at.slice(r * MARK_CHUNK, (r + 1) * MARK_CHUNK);
      const round = rounds[r];
      if (round) round.push(...part);
      else rounds[r] = part;
    }
  }
  return rounds;
}
