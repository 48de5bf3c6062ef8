import { PENDING } from '../l2/scripts.js';
import type { PendingWrite, Row } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';
import type { EngineContext } from './context.js';
import { mergeOver } from './partial-rows.js';
import { indexEntry } from './pending-index.js';
import type { SchemaCache } from './schema-cache.js';

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
): Promise<Map<string, PendingWrite> | undefined> {
  const readable = cache.writeMode === 'write-behind' && cache.l2 ? otherShapes(cache) : [];
  if (readable.length === 0 || keys.length === 0) return undefined;
  const found = new Map<string, PendingWrite>();
  try {
    const replies = await Promise.all(
      readable.map((shape) =>
        cache.l2!.run(
          PENDING,
          [cache.keys.pendingIndexOf(shape), ...keys.map((k) => cache.keys.rowOf(shape, k))],
          ['peek'],
        ),
      ),
    );
    for (const reply of replies) {
      // `peek`: per key its value, then its index entry `{version};{kind};{row}`.
      const values = reply as unknown[];
      keys.forEach((key, i) => {
        const entry = indexEntry(values[2 * i + 1]);
        if (!entry || !(entry.version > (found.get(key)?.version ?? 0))) return;
        const { version, row } = entry;
        found.set(key, { id: key, version, ...(row !== undefined && { row: ownColumns(cache, row) }) });
      });
    }
  } catch (err) {
    ctx.tolerate(cache.schema.name, 'l2', 'pending', err);
    return undefined;
  }
  return found.size > 0 ? found : undefined;
}

/** The table's other live shapes whose rows this version can decode (the same codec). */
export function otherShapes(cache: SchemaCache): readonly string[] {
  const others = cache.generation?.shapes.others;
  if (!others || others.length === 0) return [];
  const codec = `-${cache.rows.codec.name}`;
  return others.filter((shape) => shape.endsWith(codec));
}

/** Another shape's queued row as this schema's columns (a column only the other version has is dropped). */
export function ownColumns(cache: SchemaCache, text: string): Row {
  const row = cache.rows.fromQueue(text);
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
