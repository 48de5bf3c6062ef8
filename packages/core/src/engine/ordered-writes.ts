import type { ScriptedPublish } from '../bus/types.js';
import { NOTHING_WRITTEN, schemaError } from '../errors.js';
import { PAST_DUE_STATUS } from '../l2/due-script.js';
import { LIFE_CHANGED, lifeTail } from '../l2/life-script.js';
import { COUNTER_VALUE, ORDERED_PUT, ORDERED_PUT_ENQUEUE, RESERVE, SEED_COUNTER } from '../l2/scripts.js';
import { EPOCH_SPAN } from '../l3/epoch-span.js';
import type { Row } from '../l3/types.js';
import type { QueuedWrite } from '../queue/types.js';
import type { Bucket } from './buckets.js';
import { type Due, dueArg, watchReply } from './conditional-writes.js';
import { markCounters } from './counter-marks.js';
import { checkEpochFloor } from './epoch-limit.js';
import { l1Value, l1ValueFromL2, offerL1 } from './l1-copies.js';
import { stampedOwner } from './l2-values.js';
import { OtherShapesLive } from './live-shapes.js';
import { beneathValue } from './pending-beneath.js';
import { ABSENT, type SchemaCache } from './schema-cache.js';
import { markedShapes } from './superseded-marks.js';
import { shapesChanged, shapeTail } from './watched-writes.js';

/**
 * A write ordered by Redis: its key, and its row (stored shape and plaintext), or none for a delete;
 * `l2`, the stored row's L2 string, when the caller encoded it already.
 */
export interface OrderedWrite {
  readonly key: string;
  readonly stored?: Row;
  readonly plain?: Row;
  readonly l2?: string;
  /** The whole stored row as the queue carries it, where it is not `l2` (L2 leaves omitCache columns out). */
  readonly queued?: string;
  /**
   * The keys of the queued row's columns that are defaults for a new row (`QueuedWrite.defaults`): the
   * pending index names them beside the entry (see `named` in l2/scripts.ts), so that a later partial
   * set carrying this one's columns carries them as defaults too, never as its own values.
   */
  readonly defaults?: readonly string[];
  /**
   * The queued writes' fold the queued row goes beneath (`QueuedWrite.under`): remembered with the
   * write (`OwnPending`), which a Redis reset may make this instance queue again.
   */
  readonly under?: QueuedWrite['under'];
}

/**
 * A write-behind queue in the L2's own Redis: the script that orders the writes also XADDs them to
 * `stream`, each as `heads[i]` (its JSON up to the version) + version + '}'.
 */
export interface ScriptedEnqueue {
  readonly stream: string;
  /** Over several buckets (`config.buckets`): bucket b's writes go to `streams[b]`, in its slot. */
  readonly streams?: readonly string[] | undefined;
  readonly field: string;
  readonly heads: readonly string[];
}

/** What the counter's errors name. */
const COUNTER = 'its write-behind version counter';

/** ORDERED_PUT's status when a key no longer holds its expected version. */
const MOVED = -5;

/** How long Redis keeps a write-behind row pending its flush (see `writeOrdered`). */
export const PENDING_HOLD_MS = 7 * 24 * 60 * 60 * 1000;
/** Its PX argument, and a pending row's expiresAt ('0': never stale), as every pending write sends them. */
const PENDING_HOLD_PX = String(PENDING_HOLD_MS);

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
export function writeOrdered(
  cache: SchemaCache,
  writes: readonly OrderedWrite[],
  options: OrderOptions,
): Promise<WrittenInOrder | undefined> {
  // Over several buckets `config.bucketing` runs one script per bucket touched (a Worker, always on
  // one bucket, does not bundle that): see `Bucketing.writeOrdered`.
  return cache.buckets.length > 1
    ? cache.config.bucketing!.writeOrdered(cache, writes, options)
    : writeOrderedIn(cache, cache.buckets[0]!, writes, options);
}

/** What `writeOrdered` resolves: per write its version and whether its key held a row before. */
export interface WrittenInOrder {
  versions: number[];
  held: boolean[];
}

export interface OrderOptions {
  pendingFlush: boolean;
  enqueue?: ScriptedEnqueue;
  /** The script also publishes the batch's bus messages (one bucket only: `writeOrderedIn`). */
  publish?: ScriptedPublish;
  expected?: readonly string[];
  alone?: boolean;
  /**
   * The write's deadline on Redis' clock (a write-behind write whose queue is not in its script, see
   * `Due`): a script reaching Redis after it writes nothing. Each attempt records its own in `due.at`.
   */
  due?: Due;
}

/** `writeOrdered` within one bucket: one script on its slot. */
export async function writeOrderedIn(
  cache: SchemaCache,
  bucket: Bucket,
  writes: readonly OrderedWrite[],
  { pendingFlush, enqueue, publish, expected, alone = false, due }: OrderOptions,
): Promise<WrittenInOrder | undefined> {
  const l2 = cache.l2!;
  const space = bucket.keys;
  const expiresAt = (ms: number) => (ms > 0 ? cache.l2Now() + ms : 0);
  const n = writes.length;
  const ids = new Array<string>(n);
  const payloads = new Array<string>(n);
  const perKey: string[] = [];
  for (let i = 0; i < n; i++) {
    const w = writes[i]!;
    ids[i] = w.key;
    const payload = w.stored ? (w.l2 ?? cache.rows.toL2(w.stored)) : '';
    payloads[i] = payload;
    // A pending row (or tombstone) is never stale and lives a week in Redis: Postgres does not have
    // it, so if it expired before its flush, reads would answer the older row. The flush rewrites it
    // with its TTL; the week only bounds a write whose queue lost it (a memory queue that crashed).
    if (pendingFlush) perKey.push(w.stored ? 'r' : 'a', PENDING_HOLD_PX, '0', payload);
    else {
      const ms = w.stored ? cache.l2TtlMs : cache.tombstoneTtlMs();
      const px = w.stored ? cache.holdMs(ms) : ms;
      perKey.push(w.stored ? 'r' : 'a', String(Math.ceil(px)), String(expiresAt(ms)), payload);
    }
    if (enqueue) perKey.push(enqueue.heads[i]!);
    // The pending index's row: a search lays it over Postgres, so it needs every column.
    perKey.push(pendingFlush && w.queued !== undefined && w.queued !== payload ? w.queued : '');
    perKey.push(pendingFlush && w.defaults?.length ? JSON.stringify(w.defaults) : '');
    // The queued writes it goes beneath (field `<{row key}`): a search lays them under its row.
    perKey.push(pendingFlush && w.stored && w.under ? beneathValue(w.under) : '');
  }
  let l1Values: (Row | typeof ABSENT)[] | undefined;
  if (cache.tags) await cache.tags.clock.known(); // stamps of no epoch would be refused
  const reply = await withSeededCounter(
    cache,
    bucket,
    (generation, floor, wrote) => {
      // Sent again after an attempt that wrote (the watch found Redis reset meanwhile): its messages
      // are out already, and the reset's invalidateAll (`Strata.#l2Reset`) tells every instance
      // more than this attempt's would; the bus hears the batch once.
      const publishing = wrote ? undefined : publish;
      const keys = [
        space.tickKey,
        space.generationKey,
        space.versionKey,
        space.searchGenerationKey,
        space.pendingIndex,
      ];
      if (enqueue) keys.push(enqueue.stream);
      for (const id of ids) keys.push(space.row(id));
      const owner = stampedOwner(cache, cache.tags?.clock.stamp() ?? 0);
      const args = [
        String(generation),
        due ? dueArg(cache, floor, due) : String(floor),
        pendingFlush ? '1' : '0',
        owner,
      ];
      if (enqueue) args.push(enqueue.field);
      if (publishing) {
        for (const arg of publishing.args) args.push(arg);
        // The watch's life as this attempt leaves ('' unknown): the message's ticks, with the script's tick.
        args.push(bucket.watch.told());
      }
      for (const arg of perKey) args.push(arg);
      if (expected) for (const version of expected) args.push(version);
      // The table's other live shapes: their keys of these rows are marked in the same script.
      const tail = shapeTail(cache, ids, bucket.generation);
      if (tail) {
        for (const key of tail.keys) keys.push(key);
        for (const arg of tail.args) args.push(arg);
      }
      lifeTail(bucket.watch.life(), space.bootKey, keys, args);
      const script = publishing
        ? publishing.scripts[enqueue ? 1 : 0]
        : enqueue
          ? ORDERED_PUT_ENQUEUE
          : ORDERED_PUT;
      const sent = l2.run(script, keys, args);
      if (due) watchReply(due, sent);
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
  publish?.sent();
  // {tick, 0, first, search generation, held…}
  const first = Number(reply[2]);
  const versions = new Array<number>(n);
  const held = new Array<boolean>(n);
  for (let i = 0; i < n; i++) {
    const key = ids[i]!;
    const version = first + i;
    versions[i] = version;
    held[i] = Number(reply[4 + i]) === 1;
    cache.aging?.wrote(key, version);
    if (pendingFlush) {
      const w = writes[i]!;
      cache.ownPending?.record(
        key,
        version,
        w.stored ? payloads[i] : undefined,
        w.stored ? w.queued : undefined,
        w.stored ? w.defaults : undefined,
        w.stored ? w.under : undefined,
      );
    }
    if (l1Values) offerL1(cache, key, l1Values[i]!, cache.l1TtlMs, version);
  }
  return { versions, held };
}

/**
 * L1's copy of a write (ABSENT for a delete). A row stored as its plaintext (no encrypted field: the
 * same object) has its L2 string decoded into it rather than encoded a second time.
 */
function l1Copy(cache: SchemaCache, w: OrderedWrite, payload: string): Row | typeof ABSENT {
  if (!w.plain) return ABSENT;
  return w.plain === w.stored ? l1ValueFromL2(cache, w.plain, payload) : l1Value(cache, w.plain, false);
}

/**
 * Takes a version per key of `keys` (one per write, in order) from the schema's counter without
 * writing anything (a transaction that writes a write-behind schema, before Postgres commits): over
 * several buckets, from each key's bucket's counter (`Bucketing.reserveVersions`). With `expected`
 * (row key -> version), undefined and none taken (in that bucket; the others' are skipped numbers)
 * when one of those keys holds another version.
 */
export function reserveVersions(
  cache: SchemaCache,
  keys: readonly string[],
  expected?: ReadonlyMap<string, string>,
): Promise<number[] | undefined> {
  return cache.buckets.length > 1
    ? cache.config.bucketing!.reserveVersions(cache, keys, expected)
    : reserveIn(cache, cache.buckets[0]!, keys, expected);
}

/**
 * `reserveVersions` of a version per key of `written` (all in one bucket), whose keys `expected`
 * names. Their queued writes are marked superseded by them in every live shape's pending index
 * (see RESERVE).
 */
export async function reserveIn(
  cache: SchemaCache,
  bucket: Bucket,
  written: readonly string[],
  expected?: ReadonlyMap<string, string>,
): Promise<number[] | undefined> {
  const space = bucket.keys;
  const n = written.length;
  const held = [...(expected?.keys() ?? [])];
  const keys = [space.tickKey, space.versionKey, ...held.map((k) => space.row(k))];
  // Marked in every live shape's index (see `markedShapes`): one group per shape.
  for (const shape of markedShapes(cache))
    keys.push(space.pendingIndexOf(shape), ...written.map((k) => space.rowOf(shape, k)));
  const args = [String(n), String(held.length), ...(expected?.values() ?? [])];
  const reply = await withSeededCounter(cache, bucket, (_generation, floor) => {
    const [sent, sentArgs] = [[...keys], [String(floor), ...args]];
    lifeTail(bucket.watch.life(), space.bootKey, sent, sentArgs);
    return cache.l2!.run(RESERVE, sent, sentArgs);
  });
  if (Number(reply[1]) === MOVED) return undefined;
  const first = Number(reply[2]);
  return Array.from({ length: n }, (_, i) => first + i);
}

/**
 * Runs `attempt` (with the generation, the tick floor this instance saw, and whether an earlier
 * attempt's script wrote, status 0, before the watch sent it again) until it hands out
 * versions, telling the watch every tick it replies (`{tick, status, …}`). Status -4: the
 * generation moved on (built again for the new one); -3: Redis went back (the watch resets every
 * schema); -1: the counter is missing; -2: a key holds a version the counter has not reached (a
 * restore). For the last three, a new epoch (from Postgres, which remembers every epoch started)
 * seeds the counter first. A counter suspected after a Redis reset is reseeded before the next try.
 * Without `seedMissing` (a write-through write, see `ThroughOrder`), a missing counter's reply (and
 * a Redis gone back's) is resolved as it is, and nothing is seeded: an app with none gets none.
 */
export async function withSeededCounter(
  cache: SchemaCache,
  bucket: Bucket,
  attempt: (generation: number, floor: number, wrote: boolean) => Promise<unknown>,
  alone = false,
  seedMissing = true,
): Promise<unknown[]> {
  const { watch } = bucket;
  const gen = bucket.generation!;
  const b = cache.buckets.indexOf(bucket);
  let wrote = false;
  for (let tries = 0; tries < 6; tries++) {
    // (Not where a missing counter is to stay missing: seeding makes one. See `ThroughOrder`.)
    if (seedMissing && cache.suspectCounters.has(b)) await seedCounter(cache, bucket, undefined);
    // Known (the usual case): no turn of the microtask queue before the script leaves.
    const generation = gen.known() ?? (await gen.checked());
    // That generation read may have been this shape's first, and found another one live.
    if (alone && gen.shapes.others.length > 0) throw new OtherShapesLive();
    const floor = watch.floor();
    const resets = watch.resets;
    const forgets = gen.forgets;
    const reply = (await attempt(generation, floor, wrote)) as unknown[];
    // Another Redis life than this instance found (see `LIFE`): nothing written; again once it moved on.
    if (Number(reply[1]) === LIFE_CHANGED) {
      watch.lifeChanged(String(reply[2]), Number(reply[0]));
      continue;
    }
    watch.observe(undefined, Number(reply[0]), floor);
    // Its own reply found Redis reset: the counter is suspect and the generation moves past what
    // it wrote, so again (a new version, in the new generation).
    if (watch.resets !== resets) {
      if (Number(reply[1]) === 0) wrote = true;
      continue;
    }
    // The live shapes changed: sent again with the tail for the new ones.
    if (shapesChanged(cache, reply, gen)) {
      if (alone && gen.shapes.others.length > 0) throw new OtherShapesLive();
      continue;
    }
    const status = Number(reply[1]);
    if (status === 0 || status === MOVED) return reply;
    // Reached Redis after its deadline (its caller gave up, or this instance misjudged Redis' clock).
    if (status === PAST_DUE_STATUS)
      throw schemaError('L2_UNAVAILABLE', cache.schema.name, `past its deadline; ${NOTHING_WRITTEN}`);
    // Missing, or Redis went back (the watch heard of it): as it is, for the caller to decide.
    if (!seedMissing && (status === -1 || status === -3)) return reply;
    if (status === -4) gen.set(Number(reply[2]), forgets);
    else await seedCounter(cache, bucket, status === -2 ? Number(reply[2]) : undefined);
  }
  throw schemaError('L2_UNAVAILABLE', cache.schema.name, `${COUNTER} could not be used`);
}

/**
 * Moves the bucket's write-behind counter into a new epoch from Postgres (past `storedVersion`'s
 * too): every version it hands out next is above every version written before (see `WriterClaims`).
 * An epoch a write-through writer of the app marked (it found no counter after that epoch started,
 * see `RESERVE_THROUGH`) is refused, and a new one taken: the writer's epoch guard then finds it.
 * With `cameBack` (the app takes the table from another app, see `WriterClaims`), the bucket's
 * queued writes get come-back marks in the same step (SEED_COUNTER): that app's writes may have
 * superseded them, unmarked. With `present`, a missing counter stays missing (a write-through
 * instance's claim: an app that has none reserves nothing).
 */
export async function seedCounter(
  cache: SchemaCache,
  bucket: Bucket,
  storedVersion: number | undefined,
  { cameBack = false, present = false }: { cameBack?: boolean; present?: boolean } = {},
): Promise<void> {
  // Looked for before an epoch is taken (epochs are finite): a write-through app with no counter
  // took one per bucket at every claim that took the table from another write-through app
  // (packages/core/test/mixed-mode-epochs.test.ts). A counter seeded after this look is seeded from
  // a later epoch, above every version written before: left as it is.
  if (present && String((await cache.l2!.run(COUNTER_VALUE, [bucket.keys.versionKey], [])) ?? '') === '')
    return;
  for (let tries = 0; tries < 4; tries++) {
    let epoch = 1;
    if (cache.l3) {
      try {
        epoch = await cache.l3.nextEpoch(cache.schema);
      } catch (err) {
        throw schemaError(
          'L3_UNAVAILABLE',
          cache.schema.name,
          `${COUNTER} is not in L2 and Postgres did not answer; ${NOTHING_WRITTEN}`,
          { cause: err },
        );
      }
    }
    const past = storedVersion === undefined ? 0 : (Math.floor(storedVersion / EPOCH_SPAN) + 1) * EPOCH_SPAN;
    const floor = Math.max(epoch * EPOCH_SPAN, past);
    // Past the last epoch the versions lose precision: refused (thrown) before anything is seeded.
    checkEpochFloor(cache, floor);
    // Without L3 there is no write-through writer to mark anything (nor epochs to take).
    const keys = cache.l3 ? [bucket.keys.versionKey, bucket.keys.versionMarkKey] : [bucket.keys.versionKey];
    if (cameBack && cache.l3) keys.push(bucket.keys.pendingIndex);
    const args = [String(floor), String(epoch), ...(present ? ['1'] : [])];
    const seeded = Number(await cache.l2!.run(SEED_COUNTER, keys, args));
    if (seeded === -1) continue;
    if (seeded === -2) return; // missing, and left so (`present`)
    cache.suspectCounters.delete(cache.buckets.indexOf(bucket));
    // The new epoch in Postgres' mark of the counter: a Redis restored to before this seed has the
    // counter in an older epoch, below the mark (see `checkCounters`).
    const mark = { schema: cache.schema.identity, counter: bucket.keys.versionKey, version: seeded };
    await markCounters(cache, [mark], (err) =>
      cache.config.logger.warn('write-behind counter seeded, its mark in Postgres not written', {
        schema: cache.schema.name,
        error: String(err),
      }),
    );
    return;
  }
  throw schemaError(
    'L2_UNAVAILABLE',
    cache.schema.name,
    `${COUNTER} could not be seeded (every epoch taken was marked); ${NOTHING_WRITTEN}`,
  );
}
