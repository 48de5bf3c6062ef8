import { messageOf, type StrataError, schemaError } from '../errors.js';
import type { QueuedWrite, WriteQueue } from '../queue/types.js';
import type { EngineContext } from './context.js';
import type { Publish } from './flusher.js';
import type { SchemaCache } from './schema-cache.js';
import { settleUnqueued } from './unqueued-writes.js';

/** What a write-behind batch's rows give its queued writes (see `Encoded` in write-behind.ts). */
export interface QueuedRows {
  readonly plain: readonly (object | undefined)[];
  readonly queued: readonly (string | undefined)[];
  readonly under?: readonly (QueuedWrite['under'] | undefined)[];
  readonly defaults?: readonly (string[] | undefined)[];
}

/** The batch's writes as the queue carries them, at `versions`. */
export function queuedWrites(
  ctx: EngineContext,
  cache: SchemaCache,
  keys: readonly string[],
  versions: readonly number[],
  rows: QueuedRows,
  extra?: Pick<QueuedWrite, 'conditional'>,
): QueuedWrite[] {
  return versions.map(
    (version, i): QueuedWrite => ({
      schema: cache.schema.identity,
      keyPrefix: ctx.config.keyPrefix,
      id: keys[i]!,
      op: rows.plain[i] ? 'set' : 'delete',
      ...(rows.queued[i] !== undefined && { row: rows.queued[i] }),
      ...(rows.under?.[i] && { under: rows.under[i] }),
      ...(rows.defaults?.[i] && { defaults: rows.defaults[i] }),
      version,
      ...extra,
    }),
  );
}

/**
 * A write-behind script failed after it may have reached Redis (it timed out, its reply was lost,
 * the link was cut after the request was written: anything `notRun` does not rule out): it may
 * have written or may still (its request held), and only that reply would have said which. With
 * the queue outside the script (`until`: the script's deadline on Redis' clock) the writes are queued conditionally (see
 * conditional-writes.ts): flushed if the script wrote, dropped if not, so every tier ends up
 * agreeing either way. With the stream in the script, its rows and entries landed together or not
 * at all. Either way the caller gets L2_UNAVAILABLE saying the outcome is unknown
 * (`details.outcome`), as a write-through write of unknown outcome is not known to have failed.
 * A conditional enqueue that fails is settled here once the deadline passes (see unqueued-writes.ts):
 * queued again if it landed, withdrawn if the queue still refuses.
 */
export async function unknownOutcome(
  ctx: EngineContext,
  cache: SchemaCache,
  queue: WriteQueue,
  publish: Publish,
  keys: readonly string[],
  rows: QueuedRows,
  until: number | undefined,
  err: unknown,
): Promise<StrataError> {
  const name = cache.schema.name;
  ctx.refuse(name, 'l2', 'write-behind', err);
  let queued: boolean | undefined;
  if (until !== undefined) {
    // Version -1: an older consumer refuses the message rather than apply a write that may not have landed.
    const writes = queuedWrites(
      ctx,
      cache,
      keys,
      keys.map(() => -1),
      rows,
      { conditional: { until } },
    );
    queued = await queue.enqueue(writes).then(
      () => true,
      (failed: unknown) => {
        // The caller's error says so (`details.queued`); the queue's own failure is counted and
        // logged, and this instance settles the writes itself (see unqueued-writes.ts).
        ctx.counters.error('queue');
        ctx.config.logger.warn('write-behind: conditional enqueue failed', {
          schema: name,
          error: messageOf(failed),
        });
        settleUnqueued(ctx, cache, queue, publish, writes);
        return false;
      },
    );
    if (queued) ctx.counters.enqueued += writes.length;
  }
  return schemaError(
    'L2_UNAVAILABLE',
    name,
    "write-behind: L2's reply did not come: the write's outcome is unknown",
    {
      cause: err,
      details: { outcome: 'unknown', ...(until !== undefined && { until, queued }) },
    },
  );
}
