import { isStrataError, StrataError } from '../errors.js';
import type { Row } from '../l3/types.js';
import { queuedWriteHead } from '../queue/queued-write-head.js';
import type { QueuedWrite, WriteQueue } from '../queue/types.js';
import { applyClientDefaults } from './client-defaults.js';
import type { EngineContext } from './context.js';
import { type ScriptedEnqueue, writeOrdered } from './ordered-writes.js';
import { settlePending } from './pending-index.js';
import type { QueueColocation } from './queue-colocation.js';
import type { SchemaCache } from './schema-cache.js';
import type { KeyedWrite, WriteResult } from './write-through.js';

/**
 * Write-behind: one L2 script takes a version per key from the schema's Redis counter and writes
 * each row (marked pending: Postgres does not have it yet) with it; L1 takes it too; then the writes
 * are enqueued with their versions, and the caller is acknowledged only once the queue holds them.
 * The flush applies a write only over an older version, so neither a retry nor another instance's
 * older write can undo it, and no clock decides.
 *
 * When the queue lives in the L2's own Redis (`colocation`), the same script queues the writes: one
 * round trip, and the rows and their queue entries land together or not at all.
 *
 * Without L2 nothing can order the write against those already queued: it is refused with
 * L2_UNAVAILABLE and nothing is acknowledged (L3_UNAVAILABLE when L2 has no counter yet and Postgres,
 * which starts it, does not answer). On the two-request path, if the queue refuses, the pending
 * copies are withdrawn (unless a newer write replaced them) and QUEUE_UNAVAILABLE is thrown (or the
 * queue's own error about its configuration, such as a Redis without persistence). On the one-request
 * path the queue is asked first whether it takes writes (that error comes before anything is
 * written), and a failed script wrote neither rows nor entries.
 */
export async function writeBehind(
  ctx: EngineContext,
  cache: SchemaCache,
  queue: WriteQueue,
  colocation: QueueColocation,
  writes: readonly KeyedWrite[],
): Promise<WriteResult> {
  const name = cache.schema.name;
  const keys = writes.map((w) => w.key);
  const now = new Date(ctx.config.clock.now());
  const plain = writes.map((w) => (w.row ? applyClientDefaults(cache.schema, w.row, now) : undefined));
  // Nothing encrypted: the stored rows are the plaintext ones (no promise per row to wait for).
  const stored = cache.rows.encrypts
    ? await Promise.all(plain.map((row, i) => (row ? cache.rows.encryptRow(row, keys[i]!) : undefined)))
    : plain;
  // Each row is encoded once: its L2 string is also its queued row when L2 keeps every column, and
  // (unencrypted) what L1's copy is decoded from.
  const l2 = stored.map((row) => row && cache.rows.toL2(row));
  const queuedRows = stored.map((row, i) => row && cache.rows.toQueueFromL2(row, l2[i]!));
  const queued = (version: number, i: number): QueuedWrite => ({
    schema: cache.schema.identity,
    id: keys[i]!,
    op: plain[i] ? 'set' : 'delete',
    ...(queuedRows[i] !== undefined && { row: queuedRows[i] }),
    version,
  });
  const colocated = await colocation.get();
  // Before anything is written: a queue that would refuse (closed, a Redis without AOF) gets nothing.
  if (colocated) await colocated.ready();
  const enqueue: ScriptedEnqueue | undefined = colocated && {
    stream: colocated.stream,
    field: colocated.field,
    // The JSON of each write up to its version, which the script appends: {…,"version":<v>}
    heads: keys.map((key, i) => queuedWriteHead(cache.schema.identity, key, queuedRows[i])),
  };
  cache.beginWrite(keys);
  try {
    let versions: number[];
    try {
      ({ versions } = await writeOrdered(
        cache,
        writes.map((w, i) => ({
          key: w.key,
          ...(plain[i] && { stored: stored[i]!, plain: plain[i], l2: l2[i]!, queued: queuedRows[i]! }),
        })),
        { pendingFlush: true, ...(enqueue && { enqueue }) },
      ));
    } catch (err) {
      if (isStrataError(err, 'L3_UNAVAILABLE')) {
        ctx.tolerate(name, 'l3', 'write-behind', err);
        throw err;
      }
      ctx.tolerate(name, 'l2', 'write-behind', err);
      throw new StrataError(
        'L2_UNAVAILABLE',
        `schema ${name}: write-behind needs L2 to order the write; nothing was written`,
        {
          cause: err,
          details: { schema: name },
        },
      );
    }
    try {
      if (!enqueue) await queue.enqueue(versions.map(queued));
    } catch (err) {
      await cache.drop(ctx, keys, versions);
      await settlePending(ctx, cache, keys, versions);
      if (isStrataError(err) && err.code !== 'QUEUE_UNAVAILABLE') throw err;
      throw new StrataError('QUEUE_UNAVAILABLE', `schema ${name}: the write queue did not take the write`, {
        cause: err,
        details: { schema: name },
      });
    }
    ctx.counters.enqueued += writes.length;
    for (const w of writes) {
      if (w.row) ctx.counters.sets += 1;
      else ctx.counters.deletes += 1;
    }
    return {
      rows: plain.filter((row): row is Row => row !== undefined),
      // Write-behind cannot know yet whether the rows existed: it reports what it was asked to delete.
      existed: writes.filter((w) => !w.row).length,
      versions,
    };
  } finally {
    cache.endWrite(keys);
  }
}
