import type { Told } from './own-pending.js';
import { TakenMap } from './taken-map.js';

/** Keys heard of per schema at most: the oldest goes first past it (as `OwnPending`'s own writes). */
export const MAX_HEARD = 10_000;

/**
 * How long a heard version is kept when nothing says it was flushed (dropped as later ones are told). This instance sees only its
 * own flusher's commits; another instance's flush tells the same version again, which this
 * instance cannot tell from the write's own message (or a restore's). So a heard version is taken
 * for flushed this long after it was told: many flush intervals (500 ms by default), a queue's
 * batch timeout (a Cloudflare Queue waits up to 60 s) and a few retries. A write held longer (its
 * Postgres down) reads as before this existed after a reset: Postgres' row until its writer puts
 * its own back, which it does on hearing the reset.
 */
export const HEARD_HOLD_MS = 5 * 60 * 1000;

interface Heard extends Told {
  /** When it was told (monotonic clock). */
  readonly at: number;
}

/**
 * The versions the bus told this instance of other instances' writes of a write-behind schema,
 * not known to be flushed: a Redis reset orphans their pending rows until their writers put them
 * back, and a read of such a key here, made before that, answered what Postgres had, older than an
 * acknowledged write this instance had been told of (model-deployments write-behind, seed 7306;
 * reliability/test/regression-restart-heard.test.ts). After a reset, those Postgres has no version
 * as new of wait for their writers (see `ReplacedWaits`), as the keys of this instance's replaced
 * writes do; unlike those, none is adopted from L2 (see `restoreOwnPending`).
 *
 * Bounded: {@link MAX_HEARD} keys, dropped past {@link HEARD_HOLD_MS} as later ones are told, forgotten once this
 * instance sees a version at least as new committed (its flush) or written by itself, and taken
 * (all of them) by a reset.
 */
export class HeardVersions {
  readonly #keys = new TakenMap<Heard>();

  constructor(
    readonly now: () => number = () => performance.now(),
    readonly holdMs = HEARD_HOLD_MS,
  ) {}

  /** The bus told `key` at `version` (a delete when `deleted`). */
  heard(key: string, version: number, deleted: boolean): void {
    const known = this.#keys.get(key);
    // The same version again (a flush's message, a restore's) keeps when it was first told.
    if (known !== undefined && known.version >= version) return;
    const at = this.now();
    this.#keys.set(key, { version, deleted, at });
    // Oldest first (told in that order): past the count, or older than the hold.
    for (const [first, h] of this.#keys) {
      if (this.#keys.size <= MAX_HEARD && at - h.at < this.holdMs) break;
      this.#keys.delete(first);
    }
  }

  /**
   * `key` is at `version` here (committed by this instance, or its own write; Infinity: kept as a
   * replaced write of this instance instead): no longer waited on.
   */
  passed(key: string, version: number): void {
    if ((this.#keys.any(key)?.version ?? Infinity) <= version) this.#keys.delete(key);
  }

  /** Whether `key` was told at `version` or newer (and kept since). */
  has(key: string, version: number): boolean {
    return (this.#keys.get(key)?.version ?? -1) >= version;
  }

  /**
   * All of them, taken (see `TakenMap`): a reset waits for each once, and they go when its pass
   * completes ({@link drop}). One past the hold still here (nothing was heard since) costs a key in
   * the reset's Postgres read, and waits only if Postgres lacks it.
   */
  take(): [string, Told][] {
    return this.#keys.take();
  }

  /** The pass that took `taken` completed. */
  drop(taken: readonly (readonly [string, Told])[]): void {
    this.#keys.drop(taken as readonly (readonly [string, Heard])[]);
  }

  get size(): number {
    return this.#keys.size;
  }
}
