import type { Row } from '../l3/types.js';
import { ABSENT, type SchemaCache } from './schema-cache.js';

/*
 * What makes this instance forget cached copies of a schema without a write of its own: another
 * instance's write (a bus message), tags moved, every row at once, a Redis reset.
 */

/** Every cached row at once: L1 cleared, loads detached, every bucket's generation moved on (one request each). */
export async function dropAll(cache: SchemaCache): Promise<void> {
  forgetAll(cache);
  await Promise.all(cache.buckets.map((b) => b.generation?.moveOn(true)));
}

/**
 * Every L1 copy goes, loads and searches in flight will not fill, and the generation is read again
 * (another instance moved it on, or messages were missed).
 */
export function forgetAll(cache: SchemaCache): void {
  cache.writeEpoch += 1;
  cache.clears += 1;
  cache.inflight.clear();
  cache.l1?.clear();
  for (const b of cache.buckets) b.generation?.forget();
}

/**
 * Tags moved on (here or on another instance): L1 drops the rows that carry any of them, and no
 * read that began before joins a later one (its rows were read before the move). `every`: which
 * tags moved is not known (collapsed bus messages), so every row with a tag goes.
 */
export function tagsMoved(cache: SchemaCache, moved: ReadonlySet<string> | 'every'): void {
  const tags = cache.tags;
  if (!tags) return;
  cache.writeEpoch += 1;
  cache.inflight.clear();
  const hit = (t: readonly string[]) => (moved === 'every' ? t.length > 0 : t.some((tag) => moved.has(tag)));
  cache.l1?.deleteWhere((_, value) => {
    // An absence has no tags: whichever tag moved, the key may hold a row now (see readL2).
    if (value === ABSENT) return true;
    const t = tags.of(value as Row);
    return t === undefined || hit(t);
  });
}

/**
 * Another instance wrote these keys (at these versions, when known): drop what L1 holds older.
 * `deleted`: the message said they were deletes.
 */
export function applyRemote(
  cache: SchemaCache,
  keys: readonly string[],
  versions: readonly number[] | undefined,
  deleted = false,
): void {
  cache.writeEpoch += 1;
  keys.forEach((key, i) => {
    // Asked before cache drop fences the key itself: a write of cache instance is out on it.
    const writing = cache.fence.writing(key);
    cache.fence.beginWrite(key);
    cache.inflight.delete(key);
    const held = cache.l1?.peek(key);
    const version = versions?.[i];
    // Told, not flushed: the version is kept to adopt its pending row after a reset (`adoptReplaced`).
    if (version !== undefined) cache.ownPending?.replaced(key, version, deleted);
    if (cache.l1 && (version !== undefined || writing))
      cache.announced.note(key, version ?? Number.POSITIVE_INFINITY);
    if (held && (version === undefined || held.version <= version)) cache.l1!.delete(key);
    cache.fence.endWrite(key);
  });
}

/**
 * Redis (bucket `b`'s shard) restarted or went back: nothing cached before can be trusted, and
 * counters may repeat. Only that bucket's generation moves; L1 forgets every row.
 */
export function forgetAfterReset(cache: SchemaCache, replace: string, b = 0): void {
  forgetAll(cache);
  cache.buckets[b]!.generation?.afterReset(replace);
  cache.suspectCounters.add(b);
  cache.through?.forget();
}
