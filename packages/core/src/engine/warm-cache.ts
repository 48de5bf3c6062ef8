import { invalidQuery, preview } from '../query/invalid.js';
import { MAX_LIMIT } from '../query/limits.js';
import { fillCaches } from './cache-fill.js';
import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import type { SchemaCache } from './schema-cache.js';

/**
 * Loads up to `limit` rows (0 = all) from L3 into L2 and L1, one page (one query, one L2 request) at
 * a time. Each row goes in with its version, so it never replaces a newer cached one (such as a
 * write-behind row Postgres does not have yet). A `limit` that is not an integer >= 0, or a
 * `pageSize` not in 1..MAX_LIMIT (a page is held in memory, as a search's), is INVALID_QUERY naming it,
 * before anything is read: `NaN` would load nothing, `-1` everything.
 */
export async function warmCache(
  ctx: EngineContext,
  cache: SchemaCache,
  limit: number,
  pageSize: number,
): Promise<number> {
  for (const [field, value, min, max] of [
    ['limit', limit, 0, Number.MAX_SAFE_INTEGER],
    ['pageSize', pageSize, 1, MAX_LIMIT],
  ] as const) {
    if (!Number.isInteger(value) || value < min || value > max)
      throw invalidQuery(
        field,
        `warmCache: ${field} must be an integer from ${min} to ${max}, got ${preview(value)}`,
      );
  }
  const l3 = cache.l3;
  if (!l3) return 0;
  const pk = cache.schema.primaryKey.key;
  let loaded = 0;
  let after: unknown;
  while (limit === 0 || loaded < limit) {
    // A tagged schema's rows take the tick known before they were read (see RowTags).
    if (cache.tags) await cache.tags.clock.known();
    const stamp = cache.tags?.clock.stamp();
    const page = await l3
      .scan(cache.schema, { limit: limit === 0 ? pageSize : Math.min(pageSize, limit - loaded), after })
      .catch((err: unknown) => {
        throw ctx.l3Error(cache.schema.name, 'warm', err);
      });
    if (page.length === 0) break;
    const found = await Promise.all(
      page.map(async ({ row: stored, version }) => {
        const key = idKey(stored[pk] as Id);
        return { key, version, stored, plain: await cache.rows.decryptRow(stored, key) };
      }),
    );
    // Awaited (and its failure thrown): warming is what the caller asked for, not deferred work.
    await fillCaches(cache, ctx, found, { direct: true, ...(stamp !== undefined && { stamp }) });
    loaded += page.length;
    after = page[page.length - 1]!.row[pk];
  }
  return loaded;
}
