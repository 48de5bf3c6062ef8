import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import { cacheFill } from './read-path.js';
import type { SchemaRuntime } from './schema-runtime.js';

/** Loads up to `limit` rows (0 = all) from L3 into L2 and L1, one page (one query, one L2 request) at a time. */
export async function warmCache(
  ctx: EngineContext,
  rt: SchemaRuntime,
  limit: number,
  pageSize: number,
): Promise<number> {
  if (!rt.l3) return 0;
  const pk = rt.schema.primaryKey.key;
  let loaded = 0;
  let after: unknown;
  while (limit === 0 || loaded < limit) {
    const page = await rt.l3
      .scan(rt.schema, { limit: limit === 0 ? pageSize : Math.min(pageSize, limit - loaded), after })
      .catch((err: unknown) => {
        throw ctx.l3Error(rt.schema.name, 'warm', err);
      });
    if (page.length === 0) break;
    const generation = rt.l2 ? await rt.generation() : 0;
    const fills = [];
    for (const stored of page) {
      const key = idKey(stored[pk] as Id);
      const plain = await rt.rows.decryptRow(stored, key);
      // Never over what is cached already: it may be a write-behind row Postgres does not have yet.
      if (rt.l1 && rt.l1.get(key) === undefined) rt.l1.set(key, rt.protect(rt.rows.toL1(plain)), rt.l1TtlMs);
      fills.push(cacheFill(rt.keys.row(generation, key), rt.rows.toL2(stored), rt.l2TtlMs));
    }
    if (rt.l2) await rt.l2.setMany(fills);
    loaded += page.length;
    after = page[page.length - 1]![pk];
  }
  return loaded;
}
