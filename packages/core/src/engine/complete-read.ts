import { eq } from 'drizzle-orm';
import type { PendingWrite, PendingWrites, Row, StoredRow } from '../l3/types.js';
import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import { parseBeneath } from './pending-beneath.js';
import { otherShapes, ownColumns } from './pending-elsewhere.js';
import { indexEntry, ownWrites, peekIn, pendingOf, pendingReady, readsPending } from './pending-index.js';
import type { SchemaCache } from './schema-cache.js';

/*
 * `get(…, { complete: true })` reads the whole row, omitCache columns too, from Postgres. A
 * write-behind write acknowledged but not flushed yet is not there: the complete read answered the
 * row Postgres held before it (a pending delete's row too), on every instance, the writer's
 * included, while `get` and `search` answered the write
 * (reliability/test/probe-complete-pending.test.ts). So where the app queues writes of the schema
 * (see `readsPending`) it reads the key as a search does: Postgres with the key's queued write laid
 * over it (a search's own rule, so the row is what the flush will make of it). Only the key's
 * entry is read (one PENDING `peek` per live shape), never the whole index: that is up to six
 * fields per queued write, and a search refuses more than 1,000 queued writes, which failed a
 * complete get under an ordinary backlog (reliability/test/complete-read-backlog.test.ts).
 */

/** The whole row of `id` from L3, with its queued write-behind write applied (see above). */
export async function readCompleteRow(ctx: EngineContext, rt: SchemaCache, id: Id): Promise<Row | null> {
  const key = idKey(id);
  const pending = await keyPending(ctx, rt, key);
  let stored: StoredRow | undefined;
  try {
    if (pending.length > 0) {
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

/**
 * The newest queued write of `key` (none: []): its entry in this shape's pending index and, a
 * rolling deploy, each other live shape's of this codec (see `pendingElsewhere`), with its defaults'
 * names and the writes its set carries beneath it. If L2 cannot be asked, this instance's own
 * unflushed write of the key stands in, as for a search.
 */
async function keyPending(ctx: EngineContext, cache: SchemaCache, key: string): Promise<PendingWrites> {
  const space = cache.buckets[cache.router.bucket(key)]!.keys;
  const shapes = [cache.keys.shape, ...otherShapes(cache)];
  let replies: unknown[][];
  try {
    const reads = readsPending(cache);
    if (reads !== true && !(await reads)) return [];
    await pendingReady(cache);
    replies = await Promise.all(shapes.map((shape) => peekIn(cache, space, [key], shape, 'under')));
  } catch (err) {
    ctx.tolerate(cache.schema.name, 'l2', 'pending', err);
    return ownWrites(cache, key);
  }
  let newest: PendingWrite | undefined;
  replies.forEach(([, value, beneath], s) => {
    const entry = indexEntry(value);
    if (!entry || entry.version <= (newest?.version ?? -1)) return;
    const fromQueue = (text: string) => cache.rows.fromQueue(text);
    const decode = s === 0 ? fromQueue : (text: string) => ownColumns(cache, fromQueue(text));
    newest = pendingOf(key, entry, parseBeneath(beneath), decode);
  });
  return newest ? [newest] : [];
}
