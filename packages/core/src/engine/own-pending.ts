import { encodeEnvelope } from '../l2/envelope.js';
import { PUT } from '../l2/scripts.js';
import type { QueuedWrite } from '../queue/types.js';
import type { Waits } from '../resilience/wait.js';
import { adoptReplaced } from './adopt-replaced.js';
import type { EngineContext } from './context.js';
import { HeardVersions } from './heard-versions.js';
import { normalizeId } from './ids.js';
import { stampedOwner } from './l2-values.js';
import { PENDING_HOLD_MS } from './ordered-writes.js';
import { restorePendingIndex } from './pending-index.js';
import { ReplacedWaits } from './replaced-wait.js';
import { ResetSettle } from './reset-settle.js';
import type { SchemaCache } from './schema-cache.js';
import { TakenMap } from './taken-map.js';

/** Unflushed writes remembered per schema at most: the oldest goes first past it. */
const MAX_REMEMBERED = 10_000;

export interface Remembered {
  readonly version: number;
  /** The row's L2 payload; undefined for a delete. */
  readonly payload: string | undefined;
  /** The row as the queue carries it (`QueuedWrite.row`); undefined for a delete. */
  readonly queued: string | undefined;
  /**
   * The keys of `queued`'s columns that are a new row's defaults (`QueuedWrite.defaults`): the write
   * queued again, and its index entry, name them, or its flush lays them over a row another write
   * made meanwhile (reliability/test/regression-defaults-restored.test.ts).
   */
  readonly defaults?: readonly string[] | undefined;
  /** The queued writes' fold it carries beneath its own columns (`QueuedWrite.under`). */
  readonly under?: QueuedWrite['under'];
}

/** A version the bus told of a key this instance's write was replaced at (see `OwnPending.replaced`). */
export interface Told {
  readonly version: number;
  /** The message said it was a delete. */
  readonly deleted: boolean;
}

/**
 * This instance's write-behind writes not yet known to be flushed, per key: its version and L2
 * payload. A Redis that restarts without its data (or goes back to an older snapshot) loses their
 * pending rows while the queue, elsewhere, still holds the writes: reads would answer the older
 * row Postgres has until the flush, the writer included. After such a reset each instance puts its
 * own back (`restoreOwnPending`), so the writer reads its writes, and so does everyone else.
 *
 * A key is forgotten once this instance sees a version of it at least as new (a flush committing
 * it, a write, another instance's message). Bounded: past 10,000 keys the oldest is forgotten.
 */
export class OwnPending {
  readonly #rows = new Map<string, Remembered>();
  /**
   * Keys whose write of this instance another instance's newer write replaced before it was
   * flushed: the version the bus told, live (see `replaced`). After a reset the writer of that
   * version may find it late (at its next generation read), and until then this instance, which
   * forgot its own write for it, would read what Postgres had, older than its own write.
   */
  readonly #replaced = new TakenMap<Told>();
  /** Versions told of other instances' writes of keys this instance holds no write of. */
  readonly heard = new HeardVersions();
  /** Keys a reset left waiting for the writer of a told version (see `ReplacedWaits`). */
  readonly waits: ReplacedWaits;
  /** After a reset this instance found: reads that miss L2 wait for the other writers' restores. */
  readonly settle: ResetSettle;

  /**
   * `waits`: the engine's (`ctx.waits`), which both waits run on; `lives`: the schema's Redis life
   * per bucket (see `ResetSettle`). `ranOut`: a read's wait after a reset ran its bound out
   * (`replaced`, `settle`), not ended by a writer's message.
   */
  constructor(
    waits?: Waits,
    lives: () => readonly (string | undefined)[] = () => [],
    ranOut?: (op: string) => void,
  ) {
    this.waits = new ReplacedWaits(waits?.now, waits?.timer);
    this.settle = new ResetSettle(lives, waits?.now, waits?.timer);
    this.waits.ranOut = () => ranOut?.('replaced');
    this.settle.ranOut = () => ranOut?.('settle');
  }

  record(
    key: string,
    version: number,
    payload: string | undefined,
    queued: string | undefined,
    defaults?: readonly string[],
    under?: QueuedWrite['under'],
  ): void {
    this.#rows.delete(key);
    this.#replaced.delete(key);
    if (this.heard.size) this.heard.passed(key, version);
    // This instance's own newer row is in L2 now: a read of the key waits for no one else's.
    if (this.waits.size) this.waits.reached(key, version);
    this.#rows.set(key, { version, payload, queued, defaults, under });
    if (this.#rows.size > MAX_REMEMBERED) this.#rows.delete(this.#rows.keys().next().value!);
  }

  /**
   * The bus told that `key` is at `version` now (another instance's write): what this instance
   * wrote before it is no longer pending, and the version is kept to take that write's pending row
   * into the generation after a reset (`adoptReplaced`). `deleted`: the message's op said so (a
   * delete Postgres holds no row for needs no row put back: see `restoreOwnPending`).
   */
  replaced(key: string, version: number, deleted = false): void {
    if (this.waits.size) this.waits.reached(key, version);
    const held = this.#rows.get(key);
    if (held && held.version <= version) this.#rows.delete(key);
    const told = this.#replaced.get(key);
    if ((held && held.version < version) || (told !== undefined && told.version < version)) {
      this.heard.passed(key, Infinity);
      this.#replaced.set(key, { version, deleted });
      if (this.#replaced.size > MAX_REMEMBERED) this.#replaced.delete(this.#replaced.oldestKey()!);
    } else if (!held && told === undefined) this.heard.heard(key, version, deleted);
  }

  /**
   * The versions told of replaced writes (see `replaced`), taken (see `TakenMap`): each is adopted
   * once, by the pass that completes ({@link dropReplaced}).
   */
  takeReplaced(): [string, Told][] {
    return this.#replaced.take();
  }

  /** The pass that took `taken` completed. */
  dropReplaced(taken: readonly (readonly [string, Told])[]): void {
    this.#replaced.drop(taken);
  }

  /** `key` is at `version` now somewhere: what this instance wrote before it is no longer pending. */
  passed(key: string, version: number): void {
    if (this.waits.size) this.waits.reached(key, version);
    const held = this.#rows.get(key);
    if (held && held.version <= version) this.#rows.delete(key);
    if (this.heard.size) this.heard.passed(key, version);
  }

  /**
   * What a reset leaves this instance to put back or adopt (see `replaced`): with some, it finds a
   * reset as soon as it hears of one (reset-told.ts), as the writer of those rows.
   */
  get size(): number {
    return this.#rows.size + this.#replaced.size;
  }

  /** Whether a reset has anything to do here: put back, adopt, or wait for (`heard`). */
  get afterReset(): boolean {
    return this.size > 0 || this.heard.size > 0;
  }

  /** Whether a read below L1 may have to wait (a reset ago, at most `REPLACED_WAIT_MS`). */
  get waiting(): boolean {
    return this.waits.size > 0 || this.settle.active;
  }

  entries(): [string, Remembered][] {
    return [...this.#rows];
  }
}

/**
 * After a Redis reset: puts this instance's unflushed writes back into L2 as pending rows, at their
 * versions, except those Postgres already has (flushed meanwhile; a delete, unless Postgres still
 * holds an older row of its key) and those a row at least as new
 * replaced in L2 with a newer one. An equal version is replaced: the reset moved the generation
 * hard, so a row of that version still in L2 (a restart that kept its data, a failover or a snapshot
 * that had it) is of the generation before and no read takes it; in the current one it can only be
 * a flush's settled row, put there since the Postgres check above, which the pending copy replaces
 * with the same row until the redelivery queued below settles it again. The versions stay valid: the counter starts a new
 * epoch after the reset, above every version handed out before it.
 *
 * And queues them again: a queue in the Redis that went back (a stream beside L2: a failover onto a
 * lagging replica, a restore) lost them with the rows, and a pending row whose write no flusher
 * will ever apply is answered for a week while Postgres keeps the older row
 * (reliability/test/probe-hostile-9-failover.test.ts). Where the queue kept them, the copy is a
 * redelivery: its flush finds the version applied (or the copies fold into one write) and changes
 * nothing. Flagged `restored`, so that a copy a retry orders behind a newer write of the key (a
 * later epoch: the counter went with Redis) is not reported as WRITE_BEHIND_SUPERSEDED (see
 * superseded-epoch.ts). A queue that refuses them now is logged; the rows stay, as before.
 *
 * Returns every write it checked (put back, in Postgres already, or a delete Postgres holds no row
 * for): the caller tells the other instances those keys are at those versions, and reads there
 * that wait for them go on (see `ReplacedWaits`, reset-told.ts).
 */
export async function restoreOwnPending(
  ctx: EngineContext,
  cache: SchemaCache,
): Promise<[string, Remembered][]> {
  const own = cache.ownPending;
  if (!own?.afterReset || !cache.l2) return [];
  const checked = own.entries();
  let entries = checked;
  const takenTold = own.takeReplaced();
  const takenHeard = own.heard.take();
  let told = takenTold;
  let heard = takenHeard;
  // Only a pass that completes drops what it took: a failed one leaves it to the pass tried again.
  const done = () => {
    own.dropReplaced(takenTold);
    own.heard.drop(takenHeard);
    return checked;
  };
  if (cache.l3) {
    // One read for all: this instance's writes, those that replaced its writes (`adoptReplaced`),
    // and the other writes it was told of (`HeardVersions`).
    const found = await cache.l3.findMany(
      cache.schema,
      [...entries, ...told, ...heard].map(([key]) => normalizeId(cache.schema, key)),
    );
    const pk = cache.schema.primaryKey.key;
    const stored = new Map(found.map((f) => [String(f.row[pk]), f.version]));
    // Flushed already (or a newer write a bus gap hid, flushed): Postgres serves it, not the row. A
    // delete with no row there: flushed, or nothing to delete; Postgres' "none" is its answer too.
    const unflushed = ([key, t]: [string, Told]) =>
      (stored.get(key) ?? (t.deleted ? t.version : 0)) < t.version;
    told = told.filter(unflushed);
    heard = heard.filter(unflushed);
    // A delete comes back only over a row Postgres still has: with none there, it was flushed (by
    // another instance, unseen here) or had nothing to delete, and a pending tombstone, kept a week
    // and dropped by no invalidation, would hide a row written later outside Strata.
    entries = entries.filter(
      ([key, e]) => (stored.get(key) ?? (e.payload === undefined ? e.version : 0)) < e.version,
    );
  }
  // Those L2 lost: their reads wait for their writers (see `ReplacedWaits`), who hear of the reset.
  // The heard ones wait without being adopted: a read finds them in L2 once their writers put
  // them back. Adopting a row L2 kept at the heard version would take one a delete this instance
  // missed (a bus gap) had replaced, flushed, then brought back by a Redis gone back to an older
  // snapshot, for its week-long hold; a wait ends, and Postgres answers then.
  const lost = await adoptReplaced(
    cache,
    told.map(([key, t]) => [key, t.version] as const),
  );
  // Told again since they were taken (a writer that found the reset first put its row back while
  // this read Postgres): nothing to wait for; else a search waited out the bound for it.
  own.waits.expect(
    [...lost, ...heard.map(([key, t]) => [key, t.version] as const)].filter(
      ([key, version]) => !own.heard.has(key, version),
    ),
  );
  if (entries.length === 0) return done();
  const list = entries;
  // Per bucket touched: each bucket's rows are written against its own generation and tick.
  const reply = await cache.byBucket(
    list.map(([key]) => key),
    (bucket, at) => {
      const mine = at ? at.map((i) => list[i]!) : list;
      const keys = mine.map(([key]) => bucket.keys.row(key));
      return cache.runWatched(
        PUT,
        (generation) => {
          const args = [String(mine.length)];
          for (const [, e] of mine) {
            const value = encodeEnvelope({
              kind: e.payload === undefined ? 'a' : 'r',
              pending: true,
              version: e.version,
              generation,
              expiresAt: 0,
              freshUntil: 0,
              owner: stampedOwner(cache, 0),
              payload: e.payload ?? '',
            });
            args.push(String(e.version), String(PENDING_HOLD_MS), value);
          }
          return { keys, args };
        },
        { bumps: true, redoAfterReset: true },
        bucket,
      );
    },
  );
  const back = entries.filter((_, i) => Number(reply[i]) === 1);
  // Refused: a newer pending row of this app is on the key, a write whose message this instance
  // never got (lost with the reset): taken into the new generation as one it was told of, else this
  // instance, which put nothing back, reads what Postgres has, older than its own acknowledged write.
  const refused = entries
    .filter((_, i) => Number(reply[i]) !== 1)
    .map(([key, e]): [string, number] => [key, e.version]);
  await adoptReplaced(cache, refused, 'newer');
  await restorePendingIndex(cache, back);
  await queueAgain(ctx, cache, back);
  ctx.config.logger.warn('restored write-behind rows L2 lost in a reset', {
    schema: cache.schema.name,
    restored: back.length,
  });
  return done();
}

/** The restored writes, queued again at their versions (see `restoreOwnPending`). */
async function queueAgain(
  ctx: EngineContext,
  cache: SchemaCache,
  back: [string, Remembered][],
): Promise<void> {
  const { queue } = ctx.config.writeBehind;
  const writes = back.filter(([, e]) => e.payload === undefined || e.queued !== undefined);
  if (!queue || writes.length === 0) return;
  try {
    await queue.enqueue(
      writes.map(([id, e]) => ({
        schema: cache.schema.identity,
        keyPrefix: ctx.config.keyPrefix,
        id,
        op: e.payload === undefined ? 'delete' : 'set',
        ...(e.queued !== undefined && { row: e.queued }),
        ...(e.queued !== undefined && e.under && { under: e.under }),
        ...(e.queued !== undefined && e.defaults?.length && { defaults: [...e.defaults] }),
        version: e.version,
        restored: true,
      })),
    );
  } catch (err) {
    // Counted by the timed queue (`errorsBy.queue`); the rows stay pending, as before this existed.
    ctx.config.logger.warn('write-behind: could not queue again the writes a reset took', {
      schema: cache.schema.name,
      writes: writes.length,
      error: String(err),
    });
  }
}
