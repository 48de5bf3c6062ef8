import { MARK, PUT } from '../l2/scripts.js';
import type { Bucket } from './buckets.js';
import type { EngineContext } from './context.js';
import type { MissedWriteRepair } from './generation.js';
import { l1Value, offerL1 } from './l1-copies.js';
import { markerEntry, putArgs, putEntry } from './l2-values.js';
import { type ResetsSeen, resetSince } from './reset-since.js';
import { ABSENT, MAX_TOMBSTONE_MS, type SchemaCache, type Versioned } from './schema-cache.js';
import { markCall } from './supersede.js';
import { missedIn, pick, sendWatched, writeByBucket } from './watched-writes.js';

/**
 * After Postgres committed rows (write-through, a transaction, a flush): L2 takes each unless it
 * holds a newer version (the search generation moves on in the same request), then L1 takes what
 * L2 took. A row L2 refused is dropped from L1: L2 holds a newer one. If L2 cannot be reached, the
 * generation of each bucket it missed must move on before L2 is used again (see `missedIn`).
 */
export async function commitRows(
  cache: SchemaCache,
  ctx: EngineContext,
  items: readonly Versioned[],
  { settle = false, since }: { settle?: boolean; since?: ResetsSeen } = {},
): Promise<void> {
  if (cache.aging) for (const item of items) cache.aging.wrote(item.key, item.version);
  if (cache.ownPending) for (const item of items) cache.ownPending.passed(item.key, item.version);
  let taken: boolean[] = items.map(() => true);
  if (cache.l2) {
    if (cache.tags) await cache.tags.clock.known(); // stamps of no epoch would be refused
    try {
      const entries = (g: number, items: readonly Versioned[], bucket: Bucket, late = false) => {
        // A late PUT (sent again after L2 missed it, or Redis reset since the write took its
        // versions): a superseded marker at each version, never the row (see `resetSince`).
        if (late || resetSince(cache.buckets, bucket, since))
          return items.map((item) => markerEntry(cache, item.version, g));
        // Written now: no tag move known here is newer. Read per attempt: a Redis reset found by
        // the first one starts the tag counter again, and the write is made again after it.
        const stamp = cache.tags?.clock.stamp() ?? 0;
        return items.map((item) =>
          putEntry(
            cache,
            item.stored,
            item.version,
            g,
            item.stored ? cache.l2TtlMs : cache.tombstoneTtlMs(),
            stamp,
            true,
          ),
        );
      };
      const writes = items.map((item) => item.key);
      // A bucket's request that failed is sent again before the bucket's next use (see `MissedWriteRepair`).
      const repairs = new Map<Bucket, { rows: number; repair: MissedWriteRepair }>();
      // A bucket that missed the write: its rows are taken by L1 all the same (Postgres has them).
      const { reply, missed } = await writeByBucket(cache, writes, (bucket, at) => {
        const part = pick(items, at);
        const keys = cache.rowKeys(pick(writes, at));
        // A flush's commit takes its writes out of the pending index in the same request.
        const call = (late: boolean) =>
          settle
            ? (g: number) => ({
                keys: [...keys, bucket.keys.pendingIndex],
                args: [...putArgs(entries(g, part, bucket, late)), 'settle'],
              })
            : (g: number) => ({ keys, args: [...putArgs(entries(g, part, bucket, late)), 'commit'] });
        const options = { bumps: true, redoAfterReset: true, writes: pick(writes, at) };
        return cache.runWatched(PUT, call(false), options, bucket).catch((err: unknown) => {
          repairs.set(bucket, {
            rows: part.length,
            repair: async (g) => {
              try {
                // Sent again, late: newer writes of its keys may have come and gone meanwhile (a
                // delete's tombstone expired, a row evicted, a reset), which would have refused
                // its rows. A marker at each version instead, which refuses older fills; readers
                // fill from Postgres (regression-resend-late-marker, regression-missed-write-after-reset).
                // A flush's settle goes with them (PUT takes markers as it takes rows).
                const again = settle
                  ? call(true)
                  : (g2: number) =>
                      markCall(
                        cache,
                        g2,
                        pick(writes, at),
                        pick(items, at).map((i) => i.version),
                        false,
                      );
                const script = settle ? PUT : MARK;
                return (await sendWatched(cache, script, again, options, bucket, g)).reply !== undefined;
              } catch (again: unknown) {
                // Counted and logged; the generation then moves on, as for a write not sent again.
                ctx.tolerate(cache.schema.name, 'l2', 'write again', again);
                return false;
              }
            },
          });
          throw err;
        });
      });
      taken = items.map(
        (item, i) =>
          (missed?.at.has(i) || Number(reply[i]) === 1) &&
          !resetSince(cache.buckets, cache.router.bucket(item.key), since),
      );
      if (missed) missedIn(cache, ctx, 'write', missed, repairs);
    } catch (err) {
      // With no L3, L2 is the source of truth: the write did not happen.
      if (!cache.l3) throw err;
      // Failed outside any bucket's request: which bucket missed it is unknown, so all did.
      cache.recordMissedWrite();
      ctx.tolerate(cache.schema.name, 'l2', 'write', err);
    }
  }
  items.forEach((item, i) => {
    if (!cache.l1) return;
    if (!taken[i] || cache.writeMode === 'write-through-l1-async') cache.l1.delete(item.key);
    else if (item.plain)
      offerL1(cache, item.key, l1Value(cache, item.plain, false), cache.l1TtlMs, item.version);
    else
      offerL1(
        cache,
        item.key,
        ABSENT,
        Math.min(cache.l1TtlMs || MAX_TOMBSTONE_MS, cache.tombstoneTtlMs()),
        item.version,
      );
  });
}
