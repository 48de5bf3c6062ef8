import { type StrataError, schemaError } from '../errors.js';
import { PENDING } from '../l2/scripts.js';
import type { PendingWrite, PendingWrites, Row } from '../l3/types.js';
import type { EngineContext } from './context.js';
import type { KeySpace } from './keys.js';
import type { Remembered } from './own-pending.js';
import { beneathOf, beneathValue, pendingUnder } from './pending-beneath.js';
import { otherShapes, ownColumns } from './pending-elsewhere.js';
import type { SchemaCache } from './schema-cache.js';

/**
 * The most write-behind writes of one schema a search lays over Postgres (one JSON parameter). A
 * larger backlog is refused (QUEUE_UNAVAILABLE) rather than answered without it: flush first.
 */
export const MAX_SEARCH_PENDING = 1_000;

/**
 * Whether this instance lays the pending index over Postgres for `cache`'s schema: it runs it
 * write-behind, or write-through in an app that also runs it write-behind (a bucket has a counter,
 * as `ThroughOrder.mayQueue` knows it, without a request but the instance's first:
 * reliability/test/probe-mixed-search-pending.test.ts). A promise only then (see `mayQueue`).
 */
export function readsPending(cache: SchemaCache): boolean | Promise<boolean> {
  if (!cache.l2) return false;
  return cache.writeMode === 'write-behind' || (cache.through?.mayQueue() ?? false);
}

/**
 * Waits until the pending index can be read as holding every write acknowledged before: the claim
 * checked (a keyPrefix another app or table holds is refused, see `L3Claim`: its index is not
 * ours), and after a Redis reset, the entries put back.
 */
export async function pendingReady(cache: SchemaCache): Promise<void> {
  await cache.generation?.current();
  // A Redis reset took the index: this instance's entries come back first (see
  // `restoreOwnPending`), and other writers' (see `ReplacedWaits`) before the deadline, or the
  // read misses writes acknowledged before it began.
  if (cache.restore.running) await cache.restore.wait();
  if (cache.ownPending?.waits.size) await cache.ownPending.waits.wait();
  // And, after a reset this instance found, for the other writers' restores (see `ResetSettle`).
  if (cache.ownPending?.settle.active) await cache.ownPending.settle.wait();
}

/**
 * The write-behind writes of `cache`'s schema that are acknowledged but not flushed yet, for a
 * search or count to read as applied (see `PendingWrites`): the schema's pending index in L2, which
 * every instance's writes keep (ORDERED_PUT) and every flush empties (`settlePending`). One L2
 * request; none, and undefined, where the app queues none (see `readsPending`). If L2 cannot be
 * asked, this instance's own unflushed writes stand in (another instance's are then missed until
 * their flush, as a get misses them); more than MAX_SEARCH_PENDING throws QUEUE_UNAVAILABLE.
 */
export async function pendingWrites(
  ctx: EngineContext,
  cache: SchemaCache,
): Promise<PendingWrites | undefined> {
  const asked = readsPending(cache);
  if (asked === false) return undefined;
  // This shape's index, then (a rolling deploy) each other live shape's of this codec: writes that
  // version queued before this one registered (see pendingElsewhere).
  const shapes = [cache.keys.shape, ...otherShapes(cache)];
  // Over several buckets, each bucket's index (in its slot) of each shape: B requests in parallel.
  const reads = shapes.flatMap((shape, s) => cache.buckets.map(({ keys }) => ({ s, shape, keys })));
  let replies: unknown[];
  try {
    if (asked !== true && !(await asked)) return undefined;
    await pendingReady(cache);
    // An index holds its entries, the marks on them (`#{row key}`, `!{row key}`, `?{row key}`),
    // their defaults' names (`+{row key}`, see MARKS in l2/scripts.ts) and the writes beneath them
    // (`<{row key}`, see pending-beneath.ts), at most five fields per entry: read up to six times
    // the bound, and count only the entries (below), or a search with fewer writes queued than the
    // bound was refused.
    replies = await Promise.all(
      reads.map(({ shape, keys }) =>
        cache.l2!.run(PENDING, [keys.pendingIndexOf(shape)], ['read', String(FIELDS * MAX_SEARCH_PENDING)]),
      ),
    );
  } catch (err) {
    ctx.tolerate(cache.schema.name, 'l2', 'pending', err);
    return ownWrites(cache);
  }
  const byId = new Map<string, PendingWrite>();
  replies.forEach((reply, r) => {
    // More than six times the bound of entries, marks, names and writes beneath: more than the bound.
    if (!Array.isArray(reply)) throw backlog(cache, Math.ceil(Number(reply) / FIELDS), 'at least ');
    const { s, shape, keys } = reads[r]!;
    const prefix = keys.rowOf(shape, '');
    const names = namesOf(reply, `+${prefix}`);
    const beneath = beneathOf(reply, prefix);
    const decode = (text: string) =>
      s === 0 ? cache.rows.fromQueue(text) : ownColumns(cache, cache.rows.fromQueue(text));
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const field = String(reply[i]);
      const entry = indexEntry(reply[i + 1]);
      if (!field.startsWith(prefix) || !entry) continue;
      const id = field.slice(prefix.length);
      if (entry.version <= (byId.get(id)?.version ?? -1)) continue;
      // Its defaults' names, of its version (see `named` in MARKS), as PENDING `peek` reads them.
      const named = names.get(id);
      const defaults = named?.version === entry.version ? named.keys : undefined;
      byId.set(id, pendingOf(id, { ...entry, ...(defaults && { defaults }) }, beneath.get(id), decode));
    }
  });
  if (byId.size > MAX_SEARCH_PENDING) throw backlog(cache, byId.size);
  return [...byId.values()];
}

/**
 * The pending write of `id` its index entry stands for, its row decoded by `decode`: its defaults
 * those of the columns the row holds (a search lays them over no stored row), and the writes its set
 * carries beneath it (`held`), older than it (a leftover of a flushed set is older than what
 * Postgres holds: the overlay does not lay it).
 */
export function pendingOf(
  id: string,
  entry: IndexEntry,
  held: Parameters<typeof pendingUnder>[0] | undefined,
  decode: (text: string) => Row,
): PendingWrite {
  const { version } = entry;
  const row = entry.row === undefined ? undefined : decode(entry.row);
  const defaults = row && entry.defaults?.filter((k) => row[k] !== undefined);
  const under = row && held && held.below <= version ? pendingUnder(held, decode) : undefined;
  return {
    id,
    version,
    ...(row && { row }),
    ...(defaults?.length && { defaults }),
    ...(under && { under }),
  };
}

/**
 * From a PENDING `read` reply (field, value, …): per id, the names of its entry's defaults (fields
 * `+{row key}` holding `{version}:{JSON array of column keys}`, see `named` in l2/scripts.ts).
 */
function namesOf(
  reply: readonly unknown[],
  prefix: string,
): Map<string, { version: number; keys: string[] }> {
  const out = new Map<string, { version: number; keys: string[] }>();
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const field = String(reply[i]);
    const value = reply[i + 1];
    if (!field.startsWith(prefix) || typeof value !== 'string') continue;
    const colon = value.indexOf(':');
    const keys = colon > 0 ? parseNames(value.slice(colon + 1)) : undefined;
    if (keys) out.set(field.slice(prefix.length), { version: Number(value.slice(0, colon)), keys });
  }
  return out;
}

/**
 * Per key of `keys`: its L2 value and its entry in the pending index, both of `shape` (this
 * schema's own unless a rolling deploy's other version: see `pendingElsewhere`), in one L2 request
 * (PENDING `peek`); over several buckets, one per bucket touched, through `config.bucketing`.
 */
export function peekPending(
  cache: SchemaCache,
  keys: readonly string[],
  shape = cache.keys.shape,
  marks = false,
): Promise<unknown[]> {
  return cache.buckets.length > 1
    ? cache.config.bucketing!.peekPending(cache, keys, shape, marks)
    : peekIn(cache, cache.keys, keys, shape, marks);
}

/**
 * `peekPending` of keys all in one bucket (whose keys are `space`). With `marks`, an entry a
 * write-through write or a transaction reserved a version above reads `{version};c;{mark};{entry}`
 * (`b` for a come-back mark, see PENDING): for a write leaving columns out, which must then not
 * carry the queued columns over its own. With `'under'`, per key a third value: the writes its
 * entry's set carries beneath it (a complete read lays them, see complete-read.ts).
 */
export function peekIn(
  cache: SchemaCache,
  space: KeySpace,
  keys: readonly string[],
  shape: string,
  marks: boolean | 'under' = false,
): Promise<unknown[]> {
  return cache.l2!.run(
    PENDING,
    [space.pendingIndexOf(shape), ...keys.map((key) => space.rowOf(shape, key))],
    marks === 'under' ? ['peek', 'under'] : marks ? ['peek', 'marks'] : ['peek'],
  ) as Promise<unknown[]>;
}

/** The most fields of the pending index per entry: itself, three marks, its defaults' names, the writes beneath. */
const FIELDS = 6;

/**
 * A pending index entry, `{version};{kind};{row}` (the row may hold ';' itself), or as PENDING `peek`
 * reads a row whose client defaults are named, `{version};d;{names};{row}`: its version and, for a
 * row, the row's text and the keys of its columns that are defaults for a new row (none for an
 * entry without names: an older Strata's, or a row without defaults); undefined for anything else.
 */
export function indexEntry(value: unknown): IndexEntry | undefined {
  if (typeof value !== 'string') return undefined;
  const a = value.indexOf(';');
  if (a < 0) return undefined;
  const tail = entryTail(value, a + 1);
  return tail && { version: Number(value.slice(0, a)), ...tail };
}

export interface IndexEntry extends EntryTail {
  readonly version: number;
}

/** What an entry holds after its version: a row (kind `r`, or `d` with its defaults named), or none. */
export interface EntryTail {
  readonly row?: string;
  /** The keys of `row`'s columns whose values are defaults for a new row (`QueuedWrite.defaults`). */
  readonly defaults?: readonly string[];
}

/**
 * The tail of an entry from `at`, its kind: `r;{row}`, `d;{names};{row}` (`names` a JSON array of
 * column keys, see `named` in l2/scripts.ts), or another kind and `;` (a queued delete: no row).
 * Undefined when it is none of those.
 */
export function entryTail(value: string, at: number): EntryTail | undefined {
  if (value[at + 1] !== ';') return undefined;
  const kind = value[at];
  if (kind === 'r') return { row: value.slice(at + 2) };
  if (kind !== 'd') return {};
  // The names end at the first `];` that closes a JSON array of strings (a key may hold `];` itself).
  for (let end = value.indexOf('];', at + 2); end >= 0; end = value.indexOf('];', end + 1)) {
    const names = parseNames(value.slice(at + 2, end + 1));
    if (names) return { row: value.slice(end + 2), ...(names.length > 0 && { defaults: names }) };
  }
  return undefined;
}

function parseNames(text: string): string[] | undefined {
  try {
    const names: unknown = JSON.parse(text);
    return Array.isArray(names) && names.every((n) => typeof n === 'string') ? names : undefined;
  } catch {
    return undefined;
  }
}

/**
 * This instance's unflushed writes (see `OwnPending`), of `key` alone if given, as the index holds them: a set's row as it was
 * queued (its sent fold: a partial set's whole L2 row would lay the columns it merged over, read
 * before another write's, as if sent), with its defaults named, which the overlay lays over no
 * stored row (regression-defaults-restored.test.ts).
 */
export function ownWrites(cache: SchemaCache, key?: string): PendingWrites {
  const own = (cache.ownPending?.entries() ?? []).filter(([id]) => key === undefined || id === key);
  if (own.length > MAX_SEARCH_PENDING) throw backlog(cache, own.length);
  return own.map(([id, e]): PendingWrite => {
    if (e.payload === undefined) return { id, version: e.version };
    const row = e.queued !== undefined ? cache.rows.fromQueue(e.queued) : cache.rows.fromL2(e.payload);
    const defaults = e.defaults?.filter((k) => row[k] !== undefined);
    const under = e.queued !== undefined && e.under && pendingUnder(e.under, (t) => cache.rows.fromQueue(t));
    return { id, version: e.version, row, ...(defaults?.length && { defaults }), ...(under && { under }) };
  });
}

function backlog(cache: SchemaCache, count: number, atLeast = ''): StrataError {
  const { name } = cache.schema;
  return schemaError(
    'QUEUE_UNAVAILABLE',
    name,
    `${atLeast}${count} write-behind writes wait for their flush (a search reads ${MAX_SEARCH_PENDING} at most)`,
    { details: { pending: count, max: MAX_SEARCH_PENDING } },
  );
}

/**
 * Takes the writes of `keys` up to `versions` out of the pending index: Postgres holds them now, or
 * never will (superseded, withdrawn, dead-lettered). A failure is tolerated (counted, logged): a
 * leftover entry is harmless to a search (a write counts only over an older stored version) but for
 * a dead-lettered write, which would stay in the index until a later write of its key is flushed:
 * resolves whether L2 took it (true without L2), and a dead letter waits for it (see `failed` in
 * flusher.ts).
 */
export async function settlePending(
  ctx: EngineContext,
  cache: SchemaCache,
  keys: readonly string[],
  versions: readonly number[],
): Promise<boolean> {
  const l2 = cache.l2;
  if (!l2 || keys.length === 0) return true;
  try {
    // One request per bucket touched (each bucket's index is in its slot).
    await cache.byBucket(keys, async ({ keys: space }, at) => {
      const args = ['done'];
      for (const i of at ?? keys.keys()) args.push(space.row(keys[i]!), String(versions[i]));
      await l2.run(PENDING, [space.pendingIndex], args);
      return [];
    });
    return true;
  } catch (err) {
    ctx.tolerate(cache.schema.name, 'l2', 'pending', err);
    return false;
  }
}

/**
 * Puts restored pending rows back into the index (after a Redis reset: see `restoreOwnPending`):
 * each with its sent fold (`queued`, as the queue holds it), never its whole L2 row, whose columns
 * a partial set read from Postgres would else be carried as sent, and the names of its defaults
 * (`+{row key}`, see `named` in l2/scripts.ts): without them a search, and a partial set carrying
 * the row, would lay them over a row another write made (regression-defaults-restored.test.ts).
 * And under a come-back mark (see PENDING `put`): a write reserved in the new epoch before they
 * came back found no entry to mark, though it supersedes them, so a partial set carries them only
 * beneath its own (reliability/test/regression-delete-over-wiped-pending.test.ts).
 */
export async function restorePendingIndex(
  cache: SchemaCache,
  entries: readonly [string, Remembered][],
): Promise<void> {
  const l2 = cache.l2;
  if (!l2 || entries.length === 0) return;
  await cache.byBucket(
    entries.map(([key]) => key),
    async ({ keys: space }, at) => {
      const args = ['put'];
      for (const i of at ?? entries.keys()) {
        const [key, e] = entries[i]!;
        const entry = e.payload === undefined ? 'a;' : `r;${e.queued ?? e.payload}`;
        const names = e.payload !== undefined && e.defaults?.length ? JSON.stringify(e.defaults) : '';
        // The writes it goes beneath (`<{row key}`, see pending-beneath.ts): a search lays them first.
        const under = e.queued !== undefined && e.under ? beneathValue(e.under) : '';
        args.push(space.row(key), `${e.version};${entry}`, names, under);
      }
      await l2.run(PENDING, [space.pendingIndex], args);
      return [];
    },
  );
}
