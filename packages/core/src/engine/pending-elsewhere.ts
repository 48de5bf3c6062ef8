import { schemaError } from '../errors.js';
import type { PendingWrite, Row } from '../l3/types.js';
import { wait } from '../resilience/wait.js';
import type { CompiledSchema } from '../schema/types.js';
import type { EngineContext } from './context.js';
import { isPartial, mergeOver } from './partial-rows.js';
import { indexEntry, peekPending } from './pending-index.js';
import type { SchemaCache } from './schema-cache.js';
import type { KeyedWrite } from './write-through.js';

/*
 * A rolling deploy of a write-behind schema: writes one version queued BEFORE the other version
 * registered its shape sit pending in the first version's keys and pending index only (once both
 * are live, writes go to Postgres in a transaction: see `LiveShapes`). The other version misses
 * them in its own keys and Postgres does not have them yet, so it reads them here, from the pending
 * index of each other live shape: only while another shape is live, only for write-behind schemas.
 */

/**
 * The pending writes of `keys` (ids' keys) in the other live shapes' pending indexes, by key (the
 * newest where two shapes hold one). Undefined when there is nothing to ask (one shape live, another
 * write mode). Read BEFORE Postgres: a flush that lands in between leaves Postgres at that version
 * or later, which then wins (`overlayPending`); read after, a flush could be missed both ways. A
 * shape of another codec is skipped (this version cannot decode its rows); a failing L2 read is
 * tolerated (counted): the rows then read as Postgres has them.
 */
export async function pendingElsewhere(
  ctx: EngineContext,
  cache: SchemaCache,
  keys: readonly string[],
  hold?: (key: string, row: Row | undefined) => boolean,
): Promise<Map<string, PendingWrite> | undefined> {
  const readable = cache.writeMode === 'write-behind' && cache.l2 ? otherShapes(cache) : [];
  if (readable.length === 0 || keys.length === 0) return undefined;
  const found = new Map<string, PendingWrite>();
  try {
    // Per other shape: per key its value and its entry in that shape's index (per bucket touched).
    const replies = await Promise.all(readable.map((shape) => peekPending(cache, keys, shape)));
    for (const reply of replies) {
      // `peek`: per key its value, then its index entry `{version};{kind};{row}`.
      const values = reply as unknown[];
      keys.forEach((key, i) => {
        const entry = indexEntry(values[2 * i + 1]);
        if (!entry || !(entry.version > (found.get(key)?.version ?? 0))) return;
        const row = entry.row === undefined ? undefined : cache.rows.fromQueue(entry.row);
        // A leftover entry (its settle failed) whose row is no longer pending is not waited for.
        if (hold && !(hold(key, row) && /^~1;\w;1;/.test(String(values[2 * i])))) return;
        found.set(key, { id: key, version: entry.version, ...(row && { row: ownColumns(cache, row) }) });
      });
    }
  } catch (err) {
    ctx.tolerate(cache.schema.name, 'l2', 'pending', err);
    return undefined;
  }
  return found.size > 0 ? found : undefined;
}

/** The table's other live shapes whose rows this version can decode (the same codec), or, `foreign`, cannot. */
export function otherShapes(cache: SchemaCache, foreign = false): readonly string[] {
  const others = cache.generation?.shapes.others;
  if (!others || others.length === 0) return [];
  const codec = `-${cache.rows.codec.name}`;
  return others.filter((shape) => shape.endsWith(codec) !== foreign);
}

/**
 * Waits until no other live shape holds a queued write of these writes' keys that they would lose
 * (the other version queued it before this one registered): one with a column this version does
 * not map, or any under a set that leaves columns out. This version writes those keys to Postgres
 * at a newer version, which makes that write's flush be refused: its columns would be lost, so its
 * own version's flusher applies it first. Polls every 50 ms, at most `timeouts.queue`, then
 * QUEUE_UNAVAILABLE (nothing written). No request while one shape is live.
 */
export async function awaitOlderElsewhere(
  ctx: EngineContext,
  cache: SchemaCache,
  writes: readonly KeyedWrite[],
): Promise<void> {
  const partial = new Set(writes.flatMap((w) => (w.row && isPartial(cache.schema, w.row) ? [w.key] : [])));
  const hold = (key: string, row: Row | undefined) => partial.has(key) || (!!row && unmapped(cache, row));
  for (let waited = 0; ; waited += 50) {
    const held = await pendingElsewhere(
      ctx,
      cache,
      writes.map((w) => w.key),
      hold,
    );
    if (!held) return;
    if (waited >= ctx.config.timeouts.queue)
      throw schemaError(
        'QUEUE_UNAVAILABLE',
        cache.schema.name,
        "another version's queued writes were not flushed",
        {
          details: { keys: [...held.keys()] },
        },
      );
    await wait(ctx, 50);
  }
}

/** Whether a row (another version's write) has a column this schema does not map. */
export function unmapped(cache: SchemaCache, row: Row): boolean {
  return Object.keys(row).some((key) => !cache.schema.columnsByKey.has(key));
}

/** Another shape's queued row as this schema's columns (a column only the other version has is dropped). */
export function ownColumns(cache: SchemaCache, row: Row): Row {
  const out: Row = {};
  for (const key of Object.keys(row)) if (cache.schema.columnsByKey.has(key)) out[key] = row[key];
  return out;
}

/**
 * The row a read answers for a key Postgres holds at `storedVersion` (`stored` null: no row) when
 * another shape queued `pending` for it: the queued write as the flush will apply it (its columns
 * over the stored row; over none, a column it lacks is null, as `mergeOver` has it; a delete:
 * null), or undefined when Postgres is already at that version or later (the flush landed, or a
 * later write did).
 */
export function overlayPending(
  schema: CompiledSchema,
  stored: Row | null,
  storedVersion: number,
  pending: PendingWrite | undefined,
): Row | null | undefined {
  if (!pending || pending.version <= storedVersion) return undefined;
  if (!pending.row) return null;
  return mergeOver(schema, stored ?? undefined, pending.row);
}
