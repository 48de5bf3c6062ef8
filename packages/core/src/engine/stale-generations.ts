import type { EngineContext } from './context.js';
import type { SchemaCache } from './schema-cache.js';

/*
 * Generations read afresh across the schemas of an instance: to find a Redis reset before a drain,
 * or to make good a committed write L2 missed before the process goes (or on the retry timer).
 */

/**
 * Before `flushDirty` drains: each schema holding unflushed writes of this instance reads its
 * generation from L2 afresh (not the one known), so that a Redis that lost its data, queue
 * included, is found now and those writes are put back and queued again (`restoreOwnPending`)
 * before the drain; else the drain finds an empty queue and returns with acknowledged writes in
 * no queue and not in L3. One L2 request per such schema; none when nothing is unflushed.
 */
export async function findResets(ctx: EngineContext, caches: readonly SchemaCache[]): Promise<void> {
  const mine = caches.filter((rt) => rt.ownPending?.size);
  if (mine.length === 0) return;
  await Promise.all(
    mine.flatMap((rt) =>
      rt.buckets.map(({ generation }) => {
        if (!generation) return undefined;
        generation.forget();
        return generation
          .current()
          .catch((err: unknown) => ctx.tolerate(rt.schema.name, 'l2', 'generation', err));
      }),
    ),
  );
  await Promise.all(mine.map((rt) => rt.restore.wait()));
}

/**
 * Schemas whose L2 missed a committed write (L2 was down) send it again now, or move their
 * generation on, if L2 answers: a process leaving must not let other instances serve the older
 * rows until their TTL.
 */
export async function mendStaleGenerations(
  ctx: EngineContext,
  caches: readonly SchemaCache[],
): Promise<void> {
  await Promise.all(
    caches
      .flatMap((rt) => rt.buckets.map((b) => [rt, b.generation] as const))
      .filter(([, generation]) => generation?.l2MayBeStale)
      .map(([rt, generation]) =>
        generation!.current().catch((err: unknown) => ctx.tolerate(rt.schema.name, 'l2', 'generation', err)),
      ),
  );
}
