import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import type { SchemaCache } from './schema-cache.js';

/**
 * Loads up to `limit` rows (0 = all) from L3 into L2 and L1, one page (one query, one L2 request) at
 * a time. Each row goes in with its version, so it never replaces a newer cached one (such as a
 * write-behind row Postgres does not have yet).
 */
export async function warmCache(
  ctx: EngineContext,
  cache: SchemaCache,
  limit: number,
  pageSize: number,
): Promise<number> {
  const l3 = cache.l3;
  if (!l3) return 0;
  const pk = cache.schema.primaryKey.key;
  let loaded = 0;
  let after: unknown;
  while (limit === 0 || loaded < limit) {
    // A tagged schema's rows take the tick known before they were read (see RowTags).
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
    await cache.fill(ctx, found, { direct: true, ...(stamp !== undefined && { stamp }) });
    loaded += page.length;
    after = page[page.length - 1]!.row[pk];
  }
  return loaded;
}
