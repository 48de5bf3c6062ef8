import { lifeTail } from '../l2/life-script.js';
import { RESERVE_THROUGH } from '../l2/scripts.js';
import { markReserved } from './counter-marks.js';
import { seedCounter, withSeededCounter } from './ordered-writes.js';
import { otherShapes } from './pending-elsewhere.js';
import type { SchemaCache } from './schema-cache.js';
import { markedShapes } from './superseded-marks.js';

/** What a write-through write sends with its L3 write (see `Write.floor`, `WriteOp.epoch`). */
export interface ThroughPlan {
  /** Per write, the version reserved from its bucket's counter; undefined where none. */
  readonly floors: readonly (number | undefined)[] | undefined;
  /** The epoch guard, when some write has no floor; undefined when every write has one. */
  readonly epoch: number | undefined;
  /**
   * Postgres' marks of the counters reserved from, raised to the versions taken (never rejects:
   * a failure is logged): awaited before the write is acknowledged, as a flush's are.
   */
  readonly marked?: Promise<void>;
  /**
   * Per write, for a set leaving columns out that took a floor: its key's L2 value and pending index
   * entry under each of `shapes` (flat pairs), read with the reservation (see `overPending`).
   */
  readonly peeked?: readonly (readonly unknown[] | undefined)[];
  /** The shapes `peeked` holds, this schema's first (then the table's other live ones of its codec). */
  readonly shapes?: readonly string[];
}

/** What one bucket's reservation gave: the first version, and the peeked pairs (see `RESERVE_THROUGH`). */
interface Reserved {
  readonly first: number;
  readonly peeked: readonly unknown[];
}

/**
 * One version order per app: a write-through write of a schema whose app also writes it
 * write-behind (other instances in the other mode: a rolling deploy switching `writeMode`, a
 * write-through API beside a write-behind worker on one keyPrefix) takes its version in the order
 * of the app's Redis counter. It reserves one from its key's bucket's counter (one request), and
 * Postgres stores greatest(stored + 1, reserved): every write-behind write acknowledged before it
 * has a lower version (its flush is refused as older), every later one a higher version, and none
 * the same (the counter hands each version out once). An app with no counter reserves nothing.
 *
 * Which buckets have a counter is known as of an epoch (`#epoch`): every counter is seeded from a
 * new Postgres epoch before its first version is handed out (`seedCounter`), so a write with no
 * floor sends the epoch it knows, and Postgres refuses it (`EpochMoved`, nothing written) when a
 * later one was started: this instance then asks every bucket again (`moved`) and writes again. A
 * bucket found without a counter is marked with that epoch in the same script, so a counter seeded
 * from an epoch at most that one (taken before, seeded after the look) is refused and seeded from a
 * later epoch, which the guard finds. Until Postgres first refuses a write nothing is known but
 * what the generation reads found (`counterSeen`: bucket 0's is read before an instance's first
 * write, for its claim): a write reserves from a counter they found, and sends epoch 0 for its
 * other keys (refused once wherever any epoch was started for the table: then asked as above).
 */
export class ThroughOrder {
  /** The latest epoch `#counters` accounts for; undefined before the first write and after a Redis reset. */
  #epoch: number | undefined;
  /** Per bucket: whether the app's counter was there when last asked. */
  #counters: boolean[];
  /** `mayQueue`'s first read of the generations: out, or done (see there). */
  #looked: Promise<boolean> | true | undefined;

  constructor(private readonly cache: SchemaCache) {
    this.#counters = cache.buckets.map(() => false);
  }

  /**
   * The plan of a write of `keys`: synchronous when no bucket they touch has a counter (no request,
   * no turn of the microtask queue); else after one RESERVE_THROUGH per such bucket, which also
   * reads the queued writes of the keys of its sets that leave columns out (`partial`: true at their
   * positions): the app may have write-behind writes of them queued only there.
   */
  plan(keys: readonly string[], partial?: readonly boolean[]): ThroughPlan | Promise<ThroughPlan> {
    const epoch = this.#epoch;
    const buckets =
      this.cache.buckets.length === 1 ? undefined : keys.map((k) => this.cache.router.bucket(k));
    const reserving = new Set((buckets ?? [0]).filter((b) => this.#has(b)));
    if (reserving.size === 0) return { floors: undefined, epoch: epoch ?? 0 };
    return this.#reserve(keys, buckets, reserving, epoch, partial);
  }

  /** A write sent with `plan` went through: with epoch 0, no epoch was ever started (no counter was seeded). */
  passed(plan: ThroughPlan): void {
    if (plan.epoch !== 0 || this.#epoch !== undefined) return;
    this.#counters = this.cache.buckets.map((_, b) => this.#has(b));
    this.#epoch = 0;
  }

  /**
   * Whether the app may have write-behind writes of the schema queued: a bucket has a counter, as
   * this instance knows it (its writes', or its generation reads', at most 5 s old while it uses L2):
   * a search or a complete read then lays the pending index over Postgres. No request, but once:
   * nothing is known before the buckets' generations were first read (any first L2 request reads
   * them), so the first call reads them (rejects if L2 cannot be asked).
   */
  mayQueue(): boolean | Promise<boolean> {
    const known = () =>
      this.cache.buckets.some((bucket, b) => this.#has(b) || bucket.generation?.counterSeen === true);
    if (known()) return true;
    if (this.#looked === true) return false;
    // Read once: a failure is the caller's (tolerated there), and later L2 requests read them.
    const looked = () => {
      this.#looked = true;
    };
    this.#looked ??= Promise.all(this.cache.buckets.map(({ generation }) => generation?.current()))
      .finally(looked)
      .then(known);
    return this.#looked;
  }

  /** Whether some bucket has a counter this instance's writes would reserve from (as `plan` sees it). */
  reserves(): boolean {
    return this.cache.buckets.some((_, b) => this.#has(b));
  }

  /** Whether bucket `b` has a counter to reserve from, as known (before anything is, as its generation read saw). */
  #has(b: number): boolean {
    if (this.#epoch !== undefined) return this.#counters[b]!;
    return this.cache.buckets[b]!.generation?.counterSeen === true;
  }

  /** Postgres refused a write: `epoch` was started. Asks every bucket whether it has a counter now. */
  async moved(epoch: number): Promise<void> {
    const found = await Promise.all(this.cache.buckets.map((_, b) => this.#ask(b, 0, epoch, [], [], [], 0)));
    // A later look (a concurrent write's) already knows more.
    if (this.#epoch !== undefined && this.#epoch > epoch) return;
    this.#epoch = epoch;
    this.#counters = found.map((first) => first !== undefined);
  }

  /** Redis was reset (bucket `b`, or any): counters and marks may be gone; asked again at the next write. */
  forget(): void {
    this.#epoch = undefined;
  }

  async #reserve(
    keys: readonly string[],
    buckets: readonly number[] | undefined,
    reserving: ReadonlySet<number>,
    epoch: number | undefined,
    partial: readonly boolean[] | undefined,
  ): Promise<ThroughPlan> {
    // Filled, not sparse: `some` below skips holes, and a key left without a floor must be guarded.
    const floors = Array.from<number | undefined>({ length: keys.length });
    const at = (b: number) => keys.flatMap((_, i) => ((buckets?.[i] ?? 0) === b ? [i] : []));
    // Where a set leaves columns out: this shape's keys, and the other live shapes' the app may
    // have queued writes under (a rolling deploy; their rows in this codec only, see `otherShapes`).
    // Every write marks its keys' queued writes in every live shape's index as superseded by it
    // (see RESERVE_THROUGH, `markedShapes`: these first, then those of another codec): a
    // write-behind partial set made before it commits then carries none of them.
    const shapes = [this.cache.keys.shape, ...otherShapes(this.cache)];
    const marked = markedShapes(this.cache);
    const peeked = partial?.some(Boolean)
      ? new Array<readonly unknown[] | undefined>(keys.length)
      : undefined;
    await Promise.all(
      [...reserving].map(async (b) => {
        const positions = at(b);
        const peeking = peeked ? positions.filter((i) => partial![i]) : [];
        // No epoch known (a counter a generation read saw): nothing to mark (-1) if it is gone.
        const reserved = await this.#ask(
          b,
          positions.length,
          epoch ?? -1,
          positions.map((i) => keys[i]!),
          positions.map((i) => partial?.[i] === true && peeked !== undefined),
          marked,
          shapes.length,
        );
        // Gone (a Redis that lost it): marked at `epoch`, so the guard covers these keys.
        if (reserved === undefined) {
          if (epoch !== undefined && this.#epoch === epoch) this.#counters[b] = false;
          return;
        }
        positions.forEach((i, j) => {
          floors[i] = reserved.first + j;
        });
        // Per shape, a pair per peeked key: regrouped per key.
        peeking.forEach((i, j) => {
          peeked![i] = shapes.flatMap((_, s) => {
            const at = 2 * (s * peeking.length + j);
            return [reserved.peeked[at], reserved.peeked[at + 1]];
          });
        });
      }),
    );
    const guarded = floors.some((f) => f === undefined);
    return {
      floors,
      epoch: guarded ? (epoch ?? 0) : undefined,
      marked: markReserved(this.cache, buckets, floors),
      ...(peeked && { peeked, shapes }),
    };
  }

  /**
   * `n` versions from bucket `b`'s counter for `written` (the write's keys there, in version order)
   * and, with them, the value and pending index entry under each of the first `peeked` of `shapes`
   * of those `peek` says (see `RESERVE_THROUGH`, which also marks their queued writes superseded
   * under every one of `shapes`); undefined when it has no counter (marked at `epoch`).
   */
  async #ask(
    b: number,
    n: number,
    epoch: number,
    written: readonly string[],
    peek: readonly boolean[],
    shapes: readonly string[],
    peeked: number,
  ): Promise<Reserved | undefined> {
    const { cache } = this;
    const bucket = cache.buckets[b]!;
    const space = bucket.keys;
    const keys = [space.tickKey, space.versionKey, space.versionMarkKey];
    const args = ['', String(n), String(epoch)];
    if (written.length > 0) {
      args.push(String(written.length), ...peek.map((p) => (p ? '1' : '0')), String(peeked));
      for (const shape of shapes) {
        keys.push(space.pendingIndexOf(shape));
        for (const key of written) keys.push(space.rowOf(shape, key));
      }
    }
    const ask = () =>
      withSeededCounter(
        cache,
        bucket,
        (_generation, floor) => {
          args[0] = String(floor);
          const [sent, sentArgs] = [[...keys], [...args]];
          lifeTail(bucket.watch.life(), space.bootKey, sent, sentArgs);
          return cache.l2!.run(RESERVE_THROUGH, sent, sentArgs);
        },
        false,
        false,
      );
    let reply = await ask();
    // A counter that may have gone back (Redis reset) hands out versions above every earlier one
    // only once moved into a new epoch, as a write-behind write would first (the ones taken are skipped).
    // So does one that is gone though Postgres marked it (the app writes the table write-behind):
    // Redis lost it with its data, while writes it versioned may wait in a queue that kept them, in
    // the epoch Postgres still calls the latest, which the guard would let a write under.
    if (
      (Number(reply[1]) === 0 && cache.suspectCounters.has(b)) ||
      (Number(reply[1]) === -1 && (await this.#marked(b)))
    ) {
      await seedCounter(cache, bucket, undefined);
      reply = await ask();
    }
    return Number(reply[1]) === 0 ? { first: Number(reply[2]), peeked: reply.slice(3) } : undefined;
  }

  /** Whether Postgres marked bucket `b`'s counter (see `checkCounters`): the app had one. */
  async #marked(b: number): Promise<boolean> {
    const { l3, schema } = this.cache;
    if (!l3?.counterMarks) return false;
    const counter = this.cache.buckets[b]!.keys.versionKey;
    return (await l3.counterMarks(schema.identity, [counter])).length > 0;
  }
}
