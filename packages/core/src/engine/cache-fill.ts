import { PUT } from '../l2/scripts.js';
import type { EngineContext } from './context.js';
import { l1Value, offerL1 } from './l1-copies.js';
import { putArgs, putEntry } from './l2-values.js';
import { ABSENT, type SchemaCache, type Versioned } from './schema-cache.js';

/**
 * Fills the caches with what a read found below them (L2 for L1; L3 for both), each value only
 * where no newer one is held. The L2 part is deferred work (see the `background` option).
 */
export async function fillCaches(
  cache: SchemaCache,
  ctx: EngineContext,
  read: readonly Versioned[],
  options: { l1?: boolean | 'afterL2'; l2?: boolean; direct?: boolean; stamp?: number; tick?: number } = {},
): Promise<void> {
  // A tagged schema's rows carry the tick they were read at: a row whose tag moved since is
  // cached nowhere, and one whose tag values are not known here goes to L2 only.
  const stamp = options.stamp ?? cache.tags?.clock.stamp() ?? 0;
  const tags = cache.tags;
  // One check per row (it runs the schema's tags function): rows it refused, and those L1 may take.
  let found = read;
  let forL1 = (_: Versioned) => true;
  if (tags) {
    const verdicts = new Map(read.map((f) => [f, !f.plain || tags.check(f.plain, stamp)]));
    found = read.filter((f) => verdicts.get(f) !== false);
    forL1 = (f) => verdicts.get(f) === true;
  }
  // No L1: nothing to offer (offerL1 would take everything), so no row is frozen for it.
  if (options.l1 === true || (options.l1 === undefined && cache.l1)) {
    for (const f of found) {
      if (!forL1(f)) continue;
      const taken = f.plain
        ? offerL1(cache, f.key, l1Value(cache, f.plain, true), cache.l1TtlMs, f.version)
        : cache.negativeTtlMs === 0 || offerL1(cache, f.key, ABSENT, cache.negativeTtlMs, f.version);
      // A write landed while cache value was read: the newer copy stays.
      if (!taken) ctx.counters.fencedFills += 1;
    }
  }
  const l2 = cache.l2;
  if (!l2 || options.l2 === false) return;
  const entries = found.filter((f) => f.stored || cache.negativeTtlMs > 0);
  if (entries.length === 0) return;
  const work = async () => {
    // Only a schema with encrypted fields re-seals (no promise per fill otherwise).
    const stored = cache.rows.encrypts
      ? await Promise.all(
          entries.map((f) => (f.plain ? cache.rows.reseal(f.stored!, f.plain, f.key) : f.stored)),
        )
      : entries.map((f) => f.stored);
    const reply = await cache.byBucket(
      entries.map((f) => f.key),
      (bucket, at) => {
        const positions = at ?? entries.map((_, i) => i);
        const keys = cache.rowKeys(positions.map((i) => entries[i]!.key));
        const args = (g: number) =>
          positions.map((i) => {
            const f = entries[i]!;
            return putEntry(
              cache,
              stored[i],
              f.version,
              g,
              f.stored ? cache.l2TtlMs : cache.negativeTtlMs,
              stamp,
            );
          });
        // The tick the read saw before it read the source: PUT refuses the fill of a key that holds
        // nothing if a write of it (or its slot) came after (what that write left may be evicted).
        const tick = options.tick;
        const call = (g: number) =>
          tick === undefined ? putArgs(args(g)) : [...putArgs(args(g)), 'fill', String(tick)];
        return cache.runWatched(PUT, (g) => ({ keys, args: call(g) }), {}, bucket);
      },
    );
    // `afterL2`: L1 takes only what L2 took (L2 may hold a newer row than the source read).
    if (options.l1 === 'afterL2' && cache.l1)
      entries.forEach((f, i) => {
        if (Number(reply[i]) === 1 && f.plain && forL1(f))
          offerL1(cache, f.key, l1Value(cache, f.plain, true), cache.l1TtlMs, f.version);
      });
  };
  if (options.direct) await work();
  else await ctx.defer(cache.schema.name, 'l2', 'fill', work);
}
