import { StrataError } from '../errors.js';
import { ORDERED_PUT, ORDERED_PUT_ENQUEUE, RESERVE, SEED_COUNTER } from '../l2/scripts.js';
import { EPOCH_SPAN } from '../l3/epoch-span.js';
import type { Row } from '../l3/types.js';
import { OtherShapesLive } from './live-shapes.js';
import { ABSENT, type SchemaCache } from './schema-cache.js';

/**
 * A write ordered by Redis: its key, and its row (stored shape and plaintext), or none for a delete;
 * `l2`, the stored row's L2 string, when the caller encoded it already.
 */
interface OrderedWrite {
  readonly key: string;
  readonly stored?: Row;
  readonly plain?: Row;
  readonly l2?: string;
  /** The whole stored row as the queue carries it, where it is not `l2` (L2 leaves omitCache columns out). */
  readonly queued?: string;
}

/**
 * A write-behind queue in the L2's own Redis: the script that orders the writes also XADDs them to
 * `stream`, each as `heads[i]` (its JSON up to the version) + version + '}'.
 */
export interface ScriptedEnqueue {
  readonly stream: string;
  readonly field: string;
  readonly heads: readonly string[];
}

/** ORDERED_PUT's status when a key no longer holds its expected version. */
const MOVED = -5;

/** How long Redis keeps a write-behind row pending its flush (see `writeOrdered`). */
export const PENDING_HOLD_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * Writes ordered by Redis (write-behind before its flush, and schemas whose source of truth is L2):
 * one script takes a version per key from the schema's counter and writes each envelope with it, so
 * no clock decides which of two writes is newer. L1 takes each value with its version. With
 * `enqueue`, the same script also queues the writes (see `ScriptedEnqueue`). Resolves the versions
 * and, per key, whether it held a row before. Throws what L2 throws: nothing is written. With
 * `expected` (per write, the version its key must hold, '' for any), undefined and nothing written
 * when a key holds another one. With `alone` (a write-behind write: pending rows the table's other
 * shapes could not read), throws `OtherShapesLive` when the script finds another shape live.
 */
export async function writeOrdered(
  cache: SchemaCache,
  writes: readonly OrderedWrite[],
  {
    pendingFlush,
    enqueue,
    expected,
    alone = false,
  }: { pendingFlush: boolean; enqueue?: ScriptedEnqueue; expected?: readonly string[]; alone?: boolean },
): Promise<{ versions: number[]; held: boolean[] } | undefined> {
  const l2 = cache.l2!;
  const expiresAt = (ms: number) => (ms > 0 ? cache.l2Now() + ms : 0);
  const payloads = writes.map((w) => (w.stored ? (w.l2 ?? cache.rows.toL2(w.stored)) : ''));
  const perKey: string[] = [];
  writes.forEach((w, i) => {
    // A pending row (or tombstone) is never stale and lives a week in Redis: Postgres does not have
    // it, so if it expired before its flush, reads would answer the older row. The flush rewrites it
    // with its TTL; the week only bounds a write whose queue lost it (a memory queue that crashed).
    const ms = pendingFlush ? 0 : w.stored ? cache.l2TtlMs : cache.tombstoneTtlMs();
    const px = pendingFlush ? PENDING_HOLD_MS : w.stored ? cache.holdMs(ms) : ms;
    perKey.push(w.stored ? 'r' : 'a', String(Math.ceil(px)), String(expiresAt(ms)), payloads[i]!);
    if (enqueue) perKey.push(enqueue.heads[i]!);
    // The pending index's row: a search lays it over Postgres, so it needs every column.
    perKey.push(pendingFlush && w.queued !== undefined && w.queued !== payloads[i] ? w.queued : '');
  });
  let l1Values: (Row | typeof ABSENT)[] | undefined;
  const reply = await withSeededCounter(
    cache,
    (generation, floor) => {
      const keys = [
        cache.keys.tickKey,
        cache.keys.generationKey,
        cache.keys.versionKey,
        cache.keys.searchGenerationKey,
        cache.keys.pendingIndex,
      ];
      if (enqueue) keys.push(enqueue.stream);
      for (const key of cache.rowKeys(writes.map((w) => w.key))) keys.push(key);
      const owner = cache.stampedOwner(cache.tags?.clock.stamp() ?? 0);
      const args = [String(generation), String(floor), pendingFlush ? '1' : '0', owner];
      if (enqueue) args.push(enqueue.field);
      for (const arg of perKey) args.push(arg);
      if (expected) for (const version of expected) args.push(version);
      // The table's other live shapes: their keys of these rows are marked in the same script.
      const tail = cache.shapeTail(writes.map((w) => w.key));
      if (tail) {
        for (const key of tail.keys) keys.push(key);
        for (const arg of tail.args) args.push(arg);
      }
      const sent = l2.run(enqueue ? ORDERED_PUT_ENQUEUE : ORDERED_PUT, keys, args);
      // L1's copies need no version: made while the script is out rather than after its reply (one
      // call at a time, that work no longer adds to each call's latency). A failure still waits for it.
      try {
        l1Values ??= cache.l1 && writes.map((w, i) => l1Copy(cache, w, payloads[i]!));
      } catch (err) {
        return sent.then(() => Promise.reject(err));
      }
      return sent;
    },
    alone,
  );
  if (Number(reply[1]) === MOVED) return undefined;
  // {tick, 0, first, search generation, held…}
  const first = Number(reply[2]);
  const versions = writes.map((_, i) => first + i);
  if (cache.aging) for (let i = 0; i < writes.length; i++) cache.aging.wrote(writes[i]!.key, versions[i]!);
  if (pendingFlush && cache.ownPending)
    for (let i = 0; i < writes.length; i++)
      cache.ownPending.record(writes[i]!.key, versions[i]!, writes[i]!.stored ? payloads[i] : undefined);
  if (l1Values)
    for (let i = 0; i < writes.length; i++)
      cache.offerL1(writes[i]!.key, l1Values[i]!, cache.l1TtlMs, versions[i]!);
  return { versions, held: writes.map((_, i) => Number(reply[4 + i]) === 1) };
}

/**
 * L1's copy of a write (ABSENT for a delete). A row stored as its plaintext (no encrypted field: the
 * same object) has its L2 string decoded into it rather than encoded a second time.
 */
function l1Copy(cache: SchemaCache, w: OrderedWrite, payload: string): Row | typeof ABSENT {
  if (!w.plain) return ABSENT;
  return w.plain === w.stored ? cache.l1ValueFromL2(payload) : cache.l1Value(w.plain, false);
}

/**
 * Takes `n` versions from the schema's counter without writing anything (a transaction that writes
 * a write-behind schema, before Postgres commits). With `expected` (row key -> version), undefined
 * and none taken when one of those keys holds another version.
 */
export async function reserveVersions(
  cache: SchemaCache,
  n: number,
  expected?: ReadonlyMap<string, string>,
): Promise<number[] | undefined> {
  const keys = [cache.keys.tickKey, cache.keys.versionKey, ...cache.rowKeys([...(expected?.keys() ?? [])])];
  const reply = await withSeededCounter(cache, (_generation, floor) =>
    cache.l2!.run(RESERVE, keys, [String(floor), String(n), ...(expected?.values() ?? [])]),
  );
  if (Number(reply[1]) === MOVED) return undefined;
  const first = Number(reply[2]);
  return Array.from({ length: n }, (_, i) => first + i);
}

/**
 * Runs `attempt` (with the generation and the tick floor this instance saw) until it hands out
 * versions, telling the watch every tick it replies (`{tick, status, …}`). Status -4: the
 * generation moved on (built again for the new one); -3: Redis went back (the watch resets every
 * schema); -1: the counter is missing; -2: a key holds a version the counter has not reached (a
 * restore). For the last three, a new epoch (from Postgres, which remembers every epoch started)
 * seeds the counter first. A counter suspected after a Redis reset is reseeded before the next try.
 */
async function withSeededCounter(
  cache: SchemaCache,
  attempt: (generation: number, floor: number) => Promise<unknown>,
  alone = false,
): Promise<unknown[]> {
  for (let tries = 0; tries < 6; tries++) {
    if (cache.counterSuspect) await seedCounter(cache, undefined);
    // Known (the usual case): no turn of the microtask queue before the script leaves.
    const generation = cache.generation!.known() ?? (await cache.generation!.current());
    // That generation read may have been this shape's first, and found another one live.
    if (alone && cache.generation!.shapes.others.length > 0) throw new OtherShapesLive();
    const floor = cache.watch.floor();
    const resets = cache.watch.resets;
    const reply = (await attempt(generation, floor)) as unknown[];
    cache.watch.observe(undefined, Number(reply[0]), floor);
    // Its own reply found Redis reset: the counter is suspect and the generation moves past what
    // it wrote, so again (a new version, in the new generation).
    if (cache.watch.resets !== resets) continue;
    // The live shapes changed: sent again with the tail for the new ones.
    if (cache.shapesChanged(reply)) {
      if (alone && cache.generation!.shapes.others.length > 0) throw new OtherShapesLive();
      continue;
    }
    const status = Number(reply[1]);
    if (status === 0 || status === MOVED) return reply;
    if (status === -4) cache.generation!.set(Number(reply[2]));
    else await seedCounter(cache, status === -2 ? Number(reply[2]) : undefined);
  }
  throw new StrataError(
    'L2_UNAVAILABLE',
    `schema ${cache.schema.name}: its write-behind version counter could not be used`,
    {
      details: { schema: cache.schema.name },
    },
  );
}

async function seedCounter(cache: SchemaCache, storedVersion: number | undefined): Promise<void> {
  let epoch = 1;
  if (cache.l3) {
    try {
      epoch = await cache.l3.nextEpoch(cache.schema);
    } catch (err) {
      throw new StrataError(
        'L3_UNAVAILABLE',
        `schema ${cache.schema.name}: its write-behind version counter starts from Postgres (L2 has none yet), which did not answer; nothing was written`,
        { cause: err, details: { schema: cache.schema.name } },
      );
    }
  }
  const past = storedVersion === undefined ? 0 : (Math.floor(storedVersion / EPOCH_SPAN) + 1) * EPOCH_SPAN;
  const floor = Math.max(epoch * EPOCH_SPAN, past);
  await cache.l2!.run(SEED_COUNTER, [cache.keys.versionKey], [String(floor)]);
  cache.counterSuspect = false;
}
