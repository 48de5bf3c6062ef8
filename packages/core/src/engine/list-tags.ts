import { tagEpoch } from '../l2/tag-epoch.js';
import type { SchemaCache } from './schema-cache.js';
import { readTags } from './tag-keys.js';

/*
 * A cached list carries the values its query's tags (`Q().tags`) had when it was read, and is
 * named only while they hold the same (see `listHash` in search.ts). Compared for equality, a tag
 * read missing must never name a list stored before it went: under an `allkeys-*` Redis a tag
 * moved by `invalidateTags`, then evicted alone, read missing as it did before its first move, so
 * a list stored then was served again until its TTL (reliability/test/probe-tag-clock-loss.test.ts).
 * As for row tags (l2/tag-epoch.ts), a tag read missing, or below the tag clock's scale, is read
 * again through `READ_TAGS`, which puts it at the clock's value: every move so far is at or below
 * it, so it differs from any value a list read before the last move was stored with, and the
 * value a list is stored with is always one a move changes. One request more, only when a tag is
 * found so (its first use, or once after its eviction).
 */

/** A tag value read with a list: missing (null: 0) or below the tag clock's scale (-1). */
const uncounted = (value: string | null): boolean => tagEpoch(Number(value)) < 0;

/** Whether some of a list's tag values (from the list's read) are missing or do not count. */
export function uncountedTags(values: readonly (string | null)[]): boolean {
  return values.some(uncounted);
}

/**
 * `values` (of `tags`, as read with the list) with each missing or uncounted one read again through
 * `READ_TAGS` (put at the tag clock's value). Throws what L2 throws.
 */
export async function countedTags(
  cache: SchemaCache,
  tags: readonly string[],
  values: readonly (string | null)[],
): Promise<(string | null)[]> {
  const at: number[] = [];
  values.forEach((value, i) => {
    if (uncounted(value)) at.push(i);
  });
  const read = await readTags(
    cache.l2!,
    cache.buckets[0]!.keys.tagRoot,
    at.map((i) => tags[i]!),
  );
  const out = [...values];
  at.forEach((i, j) => {
    out[i] = String(read[j + 1]);
  });
  return out;
}
