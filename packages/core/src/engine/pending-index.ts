import { StrataError } from '../errors.js';
import { PENDING } from '../l2/scripts.js';
import type { PendingWrite, PendingWrites } from '../l3/types.js';
import type { EngineContext } from './context.js';
import { otherShapes, ownColumns } from './pending-elsewhere.js';
import type { SchemaCache } from './schema-cache.js';

/**
 * The most write-behind writes of one schema a search lays over Postgres (one JSON parameter). A
 * larger backlog is refused (QUEUE_UNAVAILABLE) rather than answered without it: flush first.
 */
export const MAX_SEARCH_PENDING = 1_000;

/**
 * The write-behind writes of `cache`'s schema that are acknowledged but not flushed yet, for a
 * search or count to read as applied (see `PendingWrites`): the schema's pending index in L2, which
 * every instance's writes keep (ORDERED_PUT) and every flush empties (`settlePending`). One L2
 * request; none, and undefined, for any other schema. If L2 cannot be asked, this instance's own
 * unflushed writes stand in (another instance's are then missed until their flush, as a get misses
 * them); more than MAX_SEARCH_PENDING throws QUEUE_UNAVAILABLE.
 */
export async function pendingWrites(
  ctx: EngineContext,
  cache: SchemaCache,
): Promise<PendingWrites | undefined> {
  if (cache.writeMode !== 'write-behind' || !cache.l2) return undefined;
  // This shape's index, then (a rolling deploy) each other live shape's of this codec: writes that
  // version queued before this one registered (see pendingElsewhere).
  const shapes = [cache.keys.shape, ...otherShapes(cache)];
  let replies: unknown[];
  try {
    replies = await Promise.all(
      shapes.map((shape) =>
        cache.l2!.run(PENDING, [cache.keys.pendingIndexOf(shape)], ['read', String(MAX_SEARCH_PENDING)]),
      ),
    );
  } catch (err) {
    ctx.tolerate(cache.schema.name, 'l2', 'pending', err);
    return ownWrites(cache);
  }
  const byId = new Map<string, PendingWrite>();
  replies.forEach((reply, s) => {
    if (!Array.isArray(reply)) throw backlog(cache, Number(reply));
    const prefix = cache.keys.rowOf(shapes[s]!, '');
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const field = String(reply[i]);
      const entry = indexEntry(reply[i + 1]);
      if (!field.startsWith(prefix) || !entry) continue;
      const id = field.slice(prefix.length);
      if (entry.version <= (byId.get(id)?.version ?? -1)) continue;
      const { version, row: text } = entry;
      const row =
        text === undefined ? undefined : s === 0 ? cache.rows.fromQueue(text) : ownColumns(cache, text);
      byId.set(id, { id, version, ...(row && { row }) });
    }
  });
  if (byId.size > MAX_SEARCH_PENDING) throw backlog(cache, byId.size);
  return [...byId.values()];
}

/**
 * A pending index entry, `{version};{kind};{row}` (the row may hold ';' itself): its version and,
 * for a row (kind `r`), the row's text; undefined for anything else.
 */
export function indexEntry(value: unknown): { version: number; row?: string } | undefined {
  if (typeof value !== 'string') return undefined;
  const a = value.indexOf(';');
  const b = value.indexOf(';', a + 1);
  if (a < 0 || b < 0) return undefined;
  const version = Number(value.slice(0, a));
  return value.slice(a + 1, b) === 'r' ? { version, row: value.slice(b + 1) } : { version };
}

function ownWrites(cache: SchemaCache): PendingWrites {
  const own = cache.ownPending?.entries() ?? [];
  if (own.length > MAX_SEARCH_PENDING) throw backlog(cache, own.length);
  return own.map(([id, e]) => ({
    id,
    version: e.version,
    ...(e.payload !== undefined && { row: cache.rows.fromL2(e.payload) }),
  }));
}

function backlog(cache: SchemaCache, count: number): StrataError {
  const { name } = cache.schema;
  return new StrataError(
    'QUEUE_UNAVAILABLE',
    `schema ${name}: ${count} write-behind writes wait for their flush (a search reads ${MAX_SEARCH_PENDING} at most)`,
    { details: { schema: name, pending: count, max: MAX_SEARCH_PENDING } },
  );
}

/**
 * Takes the writes of `keys` up to `versions` out of the pending index: Postgres holds them now, or
 * never will (superseded, withdrawn, dead-lettered). A failure is tolerated: a leftover entry is
 * harmless to a search (a write counts only over an older stored version) but for a dead-lettered
 * write, which stays in the index until a later write of its key is flushed.
 */
export async function settlePending(
  ctx: EngineContext,
  cache: SchemaCache,
  keys: readonly string[],
  versions: readonly number[],
): Promise<void> {
  if (!cache.l2 || keys.length === 0) return;
  const args = ['done'];
  keys.forEach((key, i) => {
    args.push(cache.keys.row(key), String(versions[i]));
  });
  try {
    await cache.l2.run(PENDING, [cache.keys.pendingIndex], args);
  } catch (err) {
    ctx.tolerate(cache.schema.name, 'l2', 'pending', err);
  }
}

/** Puts restored pending rows back into the index (after a Redis reset: see `restoreOwnPending`). */
export async function restorePendingIndex(
  cache: SchemaCache,
  entries: readonly [string, { version: number; payload: string | undefined }][],
): Promise<void> {
  if (!cache.l2 || entries.length === 0) return;
  const args = ['put'];
  for (const [key, e] of entries) {
    args.push(cache.keys.row(key), `${e.version};${e.payload === undefined ? 'a' : 'r'};${e.payload ?? ''}`);
  }
  await cache.l2.run(PENDING, [cache.keys.pendingIndex], args);
}
