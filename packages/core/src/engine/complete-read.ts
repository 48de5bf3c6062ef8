import { eq } from 'drizzle-orm';
import type { Row, StoredRow } from '../l3/types.js';
import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import { pendingWrites } from './pending-index.js';
import type { SchemaCache } from './schema-cache.js';

/*
 * `get(…, { complete: true })` reads the whole row, omitCache columns too, from Postgres. A
 * write-behind write acknowledged but not flushed yet is not there: the complete read answered the
 * row Postgres held before it (a pending delete's row too), on every instance, the writer's
 * included, while `get` and `search` answered the write
 * (reliability/test/probe-complete-pending.test.ts). So for a write-behind schema it reads the key
 * as a search does: Postgres with the key's queued writes laid over it (the pending index, one L2
 * request; a search's own rule, so the row is what the flush will make of it).
 */

/** The whole row of `id` from L3, with its queued write-behind writes applied (see above). */
export async function readCompleteRow(ctx: EngineContext, rt: SchemaCache, id: Id): Promise<Row | null> {
  const key = idKey(id);
  const pending = (await pendingWrites(ctx, rt))?.filter((w) => w.id === key);
  let stored: StoredRow | undefined;
  try {
    if (pending?.length) {
      [stored] = await rt.l3!.search(rt.schema, {
        where: eq(rt.schema.primaryKey.column, id),
        limit: 1,
        offset: 0,
        pending,
      });
    } else [stored] = await rt.l3!.findMany(rt.schema, [id]);
  } catch (err) {
    throw ctx.l3Error(rt.schema.name, 'get', err);
  }
  return stored ? await rt.rows.decryptRow(stored.row, key) : null;
}
