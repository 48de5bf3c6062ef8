import type { ScriptedPublish } from '../bus/types.js';
import { isStrataError, NOTHING_WRITTEN, type StrataError, schemaError } from '../errors.js';
import type { Row } from '../l3/types.js';
import { queuedWriteHead } from '../queue/queued-write-head.js';
import type { QueuedWrite, WriteQueue } from '../queue/types.js';
import { applyClientDefaults, insertDefaults } from './client-defaults.js';
import { DUE_SLACK_MS, type Due } from './conditional-writes.js';
import type { EngineContext } from './context.js';
import type { Publish } from './flusher.js';
import { OtherShapesLive } from './live-shapes.js';
import { type OrderOptions, type ScriptedEnqueue, writeOrdered } from './ordered-writes.js';
import { basesOf } from './partial-bases.js';
import {
  type Base,
  isPartial,
  MERGE_TRIES,
  mergeOver,
  moved,
  sentOnly,
  withoutFilledNulls,
} from './partial-rows.js';
import { peekPending } from './pending-index.js';
import type { QueueColocation } from './queue-colocation.js';
import type { SchemaCache } from './schema-cache.js';
import { wallClock } from './steady-clock.js';
import { withdrawWrites } from './withdraw.js';
import { queuedWrites, unknownOutcome } from './write-behind-unknown.js';
import type { KeyedWrite, WriteResult } from './write-through.js';

/**
 * Write-behind: one L2 script takes a version per key from the schema's Redis counter and writes
 * each row (marked pending: Postgres does not have it yet) with it; L1 takes it too; then the writes
 * are enqueued with their versions, and the caller is acknowledged only once the queue holds them.
 * The flush applies a write only over an older version, so neither a retry nor another instance's
 * older write can undo it, and no clock decides.
 *
 * When the queue lives in the L2's own Redis (`colocation`), the same script queues the writes: one
 * round trip, and the rows and their queue entries land together or not at all.
 *
 * Without L2 nothing can order the write against those already queued: it is refused with
 * L2_UNAVAILABLE and nothing is acknowledged (L3_UNAVAILABLE when L2 has no counter yet and Postgres,
 * which starts it, does not answer). On the two-request path, if the queue refuses, the pending
 * copies are withdrawn (unless a newer write replaced them), the other instances told through
 * `tell`, and QUEUE_UNAVAILABLE is thrown (or the queue's own error about its configuration, such as
 * a Redis without persistence). On the one-request path the queue is asked first whether it takes
 * writes (that error comes before anything is written), and a failed script wrote neither rows nor
 * entries.
 *
 * A set that leaves columns out is written to L2 as the whole row the flush will leave, and queued
 * as the columns Strata writes sent (see `partial-rows.ts`): one more L2 request for all of a
 * batch's partial rows (and one Postgres query for those of its keys with nothing queued and no
 * fresh L2 copy), merged again when a key moved.
 */
export async function writeBehind(
  ctx: EngineContext,
  cache: SchemaCache,
  queue: WriteQueue,
  colocation: QueueColocation,
  writes: readonly KeyedWrite[],
  tell: Publish,
): Promise<WriteResult> {
  const name = cache.schema.name;
  const keys = writes.map((w) => w.key);
  const now = new Date(wallClock(ctx.config.clock).now());
  // Whole rows (the usual case) read nothing first and carry no expected version.
  const partial = partialKeys(cache, writes);
  // Known after the first write (the usual case): no turn of the microtask queue for either.
  const known = colocation.known();
  const colocated = known !== undefined ? known : await colocation.get();
  // Before anything is written: a queue that would refuse (closed, a Redis without AOF) gets nothing.
  const ready = colocated?.ready();
  if (ready) await ready;
  // A bus on the L2's Redis publishes the batch's messages from its script (one bucket: one script).
  const scripted = cache.buckets.length === 1 ? ctx.config.coherence.bus?.scripted : undefined;
  const template = scripted?.batch(
    cache.l2!,
    cache.schema.identity,
    ctx.config.instanceId,
    writes,
    (err) => ctx.tolerate(name, 'l2', 'bus colocation check', err),
    ctx.config.keyPrefix,
  );
  const publish = template instanceof Promise ? await template : template;
  // The caller (`Writer`) counts the write as in flight from its call to its end (`beginWrite`):
  // loads of its keys that began since are detached now, as its script leaves.
  for (const key of keys) cache.inflight.delete(key);
  let written: { versions: number[]; rows: Encoded } | undefined;
  for (let tries = 0; !written; tries++) {
    if (tries === MERGE_TRIES) throw moved(name);
    let bases: Map<string, Base> | undefined;
    try {
      // basesOf reads the generation too (an L2 read, which a foreign L3 claim refuses).
      if (partial.length > 0)
        bases = await basesOf(
          ctx,
          cache,
          writes,
          partial,
          await peekPending(cache, partial, cache.keys.shape, true),
        );
    } catch (err) {
      throw l2Failed(ctx, name, err);
    }
    // Whole unencrypted rows (the usual case) encode without a turn of the microtask queue.
    const encoding =
      bases || cache.rows.encrypts ? encode(cache, writes, now, bases) : encodeWhole(cache, writes, now);
    const rows = encoding instanceof Promise ? await encoding : encoding;
    // The claim was looked at when the write was called; a base read (Postgres, up to its timeout) or
    // a batch ahead of this one may have taken long since. The script takes versions from this app's
    // counter, which order against another app's only while this app holds the table: looked at again
    // here (no wait unless 50 s passed since the claim), or a write trusted at 49 s and slowed past
    // the 60 s lease would be acknowledged below a new owner's versions and lost at its flush.
    const claiming = ctx.claims.before(cache);
    if (claiming) await claiming;
    const enqueue: ScriptedEnqueue | undefined = colocated
      ? {
          stream: colocated.stream,
          streams: colocated.streams,
          field: colocated.field,
          // The JSON of each write up to its version, which the script appends: {…,"version":<v>}
          heads: keys.map((key, i) =>
            queuedWriteHead(
              cache.schema.identity,
              ctx.config.keyPrefix,
              key,
              rows.queued[i],
              rows.under?.[i],
              rows.defaults?.[i],
            ),
          ),
        }
      : undefined;
    // A queue outside the script: the script gets a deadline on Redis' clock (see conditional-writes.ts).
    const due: Due = enqueue ? {} : { afterMs: ctx.config.timeouts.l2 + DUE_SLACK_MS };
    try {
      const done = await writeOrdered(
        cache,
        writes.map((w, i) =>
          rows.plain[i]
            ? {
                key: w.key,
                stored: rows.stored[i]!,
                plain: rows.plain[i],
                l2: rows.l2[i]!,
                queued: rows.queued[i]!,
                ...(rows.defaults?.[i] && { defaults: rows.defaults[i] }),
                ...(rows.under?.[i] && { under: rows.under[i] }),
              }
            : { key: w.key },
        ),
        orderOptions(enqueue, bases && rows.expected, publish, due),
      );
      // Undefined: a key moved since its base was read (another write landed): merged again.
      if (done) written = { versions: done.versions, rows };
    } catch (err) {
      if (err instanceof OtherShapesLive) throw err;
      if (isStrataError(err, 'L3_UNAVAILABLE')) {
        ctx.refuse(name, 'l3', 'write-behind', err);
        throw err;
      }
      // A script that may have run (timed out, its reply lost, a cut link: see `watchReply`) or
      // that wrote: its outcome is unknown (see write-behind-unknown.ts).
      if (due.out) throw await unknownOutcome(ctx, cache, queue, tell, keys, rows, due.at, err);
      throw l2Failed(ctx, name, err);
    }
    if (written && !enqueue)
      await enqueueOrWithdraw(ctx, cache, queue, tell, keys, written.versions, written.rows);
  }
  const { versions, rows } = written;
  ctx.counters.enqueued += writes.length;
  for (const w of writes) {
    if (w.row) ctx.counters.sets += 1;
    else ctx.counters.deletes += 1;
  }
  return {
    rows: rows.plain.filter((row): row is Row => row !== undefined),
    // Write-behind cannot know yet whether the rows existed: it reports what it was asked to delete.
    existed: writes.filter((w) => !w.row).length,
    versions,
    told: publish !== undefined,
  };
}

/** A write-behind batch's `OrderOptions`: built field by field, no spread object per set. */
function orderOptions(
  enqueue: ScriptedEnqueue | undefined,
  expected: string[] | undefined,
  publish: ScriptedPublish | undefined,
  due: Due,
): OrderOptions {
  const options: OrderOptions = { pendingFlush: true, alone: true, due };
  if (enqueue) options.enqueue = enqueue;
  if (publish) options.publish = publish;
  if (expected) options.expected = expected;
  return options;
}

/** The keys of the partial sets among `writes` (each once), in order; none allocated for whole rows. */
function partialKeys(cache: SchemaCache, writes: readonly KeyedWrite[]): string[] {
  let keys: Set<string> | undefined;
  for (const w of writes) {
    if (!w.row || !isPartial(cache.schema, w.row)) continue;
    keys ??= new Set();
    keys.add(w.key);
  }
  return keys ? [...keys] : [];
}

/** The rows of a batch as each tier takes them. */
interface Encoded {
  /** The plaintext row of each set (merged when partial), as L1 and the caller get it. */
  readonly plain: (Row | undefined)[];
  readonly stored: (Row | undefined)[];
  readonly l2: (string | undefined)[];
  /**
   * The queued row: a partial set's sent fold (see `partial-rows.ts`). A flush applies a write only
   * over an older version, so an older write flushed after a newer one (two instances' queues, two
   * flushers) is refused: the newer carries its columns (the fold over the version it was checked
   * against). Also the pending index's row, client defaults included, which a search lays over
   * Postgres's row (a new row's defaults read the same before its flush as after it); the index
   * names them beside it (`defaults`, see `OrderedWrite.defaults`), so a later partial set carrying
   * this row carries them as defaults (regression-defaults-over-held-tx.test.ts).
   */
  readonly queued: (string | undefined)[];
  /** Per queued set, the keys of its row's columns that are defaults for a new row (`QueuedWrite.defaults`). */
  readonly defaults?: readonly (string[] | undefined)[];
  /** Per write, the version its key must still hold ('' for a whole row or a delete). */
  readonly expected: string[];
  /** Per partial set over marked queued writes: their fold, beneath it (see `QueuedWrite.under`). */
  readonly under?: readonly (QueuedWrite['under'] | undefined)[];
}

/**
 * Merges each partial row over its base (the key's earlier write in this batch, else `bases`) and
 * encodes every row once: its L2 string is also its queued row when L2 keeps every column, and
 * (unencrypted) what L1's copy is decoded from. Client-side defaults fill a new row (a whole row, or
 * a partial one over none); over an existing row only `$onUpdate` does, as Postgres's upsert would.
 * A partial row's queued one is its sent fold, taken from its stored row (no second encryption):
 * over a row, the sent columns over the queued sent fold (or alone); a new row, whole less the
 * nulls it only has because a column with an SQL default was filled in. The client defaults a
 * new row was filled with are named (`Encoded.defaults`): the flush inserts them, never over a row
 * another write made meanwhile (regression-defaults-over-held-tx.test.ts); the index holds them.
 */
async function encode(
  cache: SchemaCache,
  writes: readonly KeyedWrite[],
  now: Date,
  bases: ReadonlyMap<string, Base> | undefined,
): Promise<Encoded> {
  const { schema, rows: codec } = cache;
  const plain: (Row | undefined)[] = [];
  const sent: (Row | undefined)[] = [];
  // Per partial write: whether it was merged over a row (else it is a new one).
  const over: (boolean | undefined)[] = [];
  // Per partial write over no row: whether that is only because Postgres (or L2's copy of it) had
  // none when read, not a queued delete of the key. Then only its sent columns are queued: a write
  // of the key reserved earlier (a held transaction, a write-through set) may commit before the
  // flush, and this write, ordered after it, lays its columns over that row rather than replacing
  // it; over no row the insert leaves the other columns null (or their defaults) as the merged row
  // read (reliability/test/regression-partial-over-held-tx.test.ts).
  const absent: (boolean | undefined)[] = [];
  const expected: string[] = [];
  const under: (QueuedWrite['under'] | undefined)[] = [];
  // Per write, the columns a client default filled for a new row (see `insertDefaults`).
  const filled: (string[] | undefined)[] = [];
  const earlier = new Map<string, Row | undefined>();
  for (const [i, w] of writes.entries()) {
    const base = bases?.get(w.key);
    // A write that carries the key's queued columns (`^`) is refused, and merged again, if a
    // write-through write or a transaction reserved a version above them meanwhile (see ORDERED_PUT).
    expected.push(base ? `${base.expected}${base.queued && !earlier.has(w.key) ? '^' : ''}` : '');
    let out: Row | undefined;
    if (w.row && base && !base.unknown && isPartial(schema, w.row)) {
      const row = earlier.has(w.key)
        ? earlier.get(w.key)
        : base.stored && (await codec.decryptRow(base.stored, w.key));
      sent[i] = applyClientDefaults(schema, w.row, now, !!row);
      // Carried (a transaction or write-through write reserved a version above the key's queued
      // writes): its row, not in L2 yet, is what this one lands over, so only the sent columns are
      // queued, even over a queued delete's tombstone (a new row's nulls would blank its columns:
      // reliability/test/probe-marks-lifecycle.test.ts).
      over[i] = !!row || (base.carried !== undefined && !earlier.has(w.key));
      absent[i] = !row && !earlier.has(w.key) && !base.pending;
      // Over a row only `$onUpdate` filled anything: no default (`insertDefaults` is for a new row).
      // Over a delete (queued, or earlier in the batch) the row is a new one whatever Postgres holds:
      // the flush folds them into a replace, and a write carrying this row carries the delete's
      // effect too (a transaction's over it, a search's overlay): its defaults are values, unnamed.
      filled[i] = row || !(absent[i] || over[i]) ? undefined : insertDefaults(schema, w.row, sent[i]!);
      // That write may never commit (its outcome unknown, the mark kept): the queued columns go
      // beneath this write's, applied only while Postgres holds the key at their version or older.
      if (base.carried && !earlier.has(w.key))
        under[i] = { below: Number(base.expected) + 1, ...base.carried.beneath };
      out = mergeOver(schema, row, sent[i]!);
    } else {
      out = w.row && applyClientDefaults(schema, w.row, now);
      // A partial set whose base Postgres did not give goes as a new row: its defaults only insert.
      filled[i] = w.row && out && insertDefaults(schema, w.row, out);
    }
    plain.push(out);
    earlier.set(w.key, out);
  }
  // Nothing encrypted: the stored rows are the plaintext ones (no promise per row to wait for).
  const stored = codec.encrypts
    ? await Promise.all(plain.map((row, i) => (row ? codec.encryptRow(row, writes[i]!.key) : undefined)))
    : plain;
  const l2 = stored.map((row) => row && codec.toL2(row));
  // Per key, the stored sent fold of its latest write in the batch so far (a whole row's is itself),
  // and the columns of it that are defaults for a new row.
  const folds = new Map<string, Row | undefined>();
  const foldDefaults = new Map<string, string[] | undefined>();
  const defaults: (string[] | undefined)[] = [];
  const queued = stored.map((row, i) => {
    const key = writes[i]!.key;
    const s = sent[i];
    let fold = row;
    let keys = filled[i];
    if (row && s) {
      if (absent[i]) fold = sentOnly(schema, row, s);
      else if (!over[i]) fold = withoutFilledNulls(schema, { ...row }, s);
      else {
        const base = bases!.get(key)!;
        fold = { ...(folds.has(key) ? folds.get(key) : base.queued) };
        for (const c of schema.columns) if (s[c.key] !== undefined) fold[c.key] = row[c.key];
        // A default of the fold carried (an earlier write's in the batch, else the queued writes'
        // the index names) stays one unless this write sent the column: an insert's alone.
        const carried = folds.has(key) ? foldDefaults.get(key) : base.queuedDefaults;
        const before = carried?.filter((k) => s[k] === undefined);
        if (before?.length) keys = [...before, ...(keys ?? [])];
      }
    }
    folds.set(key, fold);
    foldDefaults.set(key, row ? keys : undefined);
    defaults.push(row ? keys : undefined);
    const text = fold === row && row ? codec.toQueueFromL2(row, l2[i]!) : fold && codec.toQueue(fold);
    return text;
  });
  return { plain, stored, l2, queued, expected, under, defaults };
}

/**
 * `encode` for a batch with no base to merge over (no partial set) and no encrypted field, by the
 * same rules (client-side defaults as on a new row; the stored row is the plaintext one; its queued
 * row is its L2 string when L2 keeps every column), without the promises and per-batch maps the
 * merging needs.
 */
function encodeWhole(cache: SchemaCache, writes: readonly KeyedWrite[], now: Date): Encoded {
  const { schema, rows: codec } = cache;
  const n = writes.length;
  const plain = new Array<Row | undefined>(n);
  const l2 = new Array<string | undefined>(n);
  const queued = new Array<string | undefined>(n);
  const expected = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const w = writes[i]!;
    const row = w.row && applyClientDefaults(schema, w.row, now);
    plain[i] = row;
    const text = row && codec.toL2(row);
    l2[i] = text;
    queued[i] = row && codec.toQueueFromL2(row, text!);
    expected[i] = '';
  }
  return { plain, stored: plain, l2, queued, expected };
}

/**
 * The two-request path: the queue takes the writes, or their pending copies are withdrawn (unless a
 * newer write replaced them; the other instances told: `withdrawWrites`) and QUEUE_UNAVAILABLE is
 * thrown (or the queue's own error about its configuration).
 */
async function enqueueOrWithdraw(
  ctx: EngineContext,
  cache: SchemaCache,
  queue: WriteQueue,
  publish: Publish,
  keys: readonly string[],
  versions: readonly number[],
  rows: Encoded,
): Promise<void> {
  const name = cache.schema.name;
  try {
    await queue.enqueue(queuedWrites(ctx, cache, keys, versions, rows));
  } catch (err) {
    await withdrawWrites(ctx, cache, keys, versions, publish);
    if (isStrataError(err) && err.code !== 'QUEUE_UNAVAILABLE') throw err;
    throw schemaError('QUEUE_UNAVAILABLE', name, 'the write queue did not take the write', { cause: err });
  }
}

function l2Failed(ctx: EngineContext, name: string, err: unknown): StrataError {
  ctx.refuse(name, 'l2', 'write-behind', err);
  return schemaError('L2_UNAVAILABLE', name, `write-behind needs L2 to order the write; ${NOTHING_WRITTEN}`, {
    cause: err,
  });
}
