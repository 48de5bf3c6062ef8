import type { Clock } from '../clock.js';
import { tagEpoch } from '../l2/tag-epoch.js';
import type { L2Tier } from '../l2/types.js';
import { waitShared } from '../resilience/bounded-share.js';
import type { Waits } from '../resilience/wait.js';
import { bumpTags, readTags } from './tag-keys.js';

/** What the app's tag clock is built from (see `RowTagging.clock`). */
export interface TagClockDeps {
  readonly l2: L2Tier | undefined;
  /** The app's keyPrefix: its tags are shared by its schemas. */
  readonly root: string;
  readonly time: Clock;
  /** Tags moved on: every tagged schema's L1 drops their rows. */
  readonly onMove: (tags: ReadonlySet<string>) => void;
  /** A read of tag values failed (counted and logged). */
  readonly onError: (err: unknown) => void;
  /** An L2 call's deadline (`timeouts.l2`): a counter read out longer is not shared (see `ready`). */
  readonly l2TimeoutMs: number;
  /** The engine's waits (`ctx.waits`): a share of the counter read runs on them (see `ready`). */
  readonly waits: Waits;
}

/** How long a tag's value read from Redis is trusted without a bus message (as a generation is). */
const TRUST_MS = 5_000;
/** Tag values kept: beyond this the oldest are forgotten (read again when met). */
const MAX_KNOWN = 10_000;

interface Known {
  value: number;
  readAt: number;
}

/**
 * One app's tag clock, as this instance knows it. `invalidateTags` moves each tag to the next tick
 * of one counter shared by the app's tags (`BUMP_TAGS`), so a tag's value says when it last moved
 * on the same scale as the stamp every cached row carries: the highest value this instance knew of
 * when the row was read. A row is valid while none of its tags moved after its stamp (see
 * `RowTags`). Versions, not clocks: no instance's time decides it.
 *
 * What this instance knows only grows within an epoch of the clock (see tag-epoch.ts: a lost clock
 * starts a new one, and a row stamped in another epoch is refused): a bus message or
 * a read of the tags raises a value, and a value that rose is a move (its rows leave L1 through
 * `onMove`).
 */
export class TagClock {
  #clock = 0;
  #clockReadAt = Number.NEGATIVE_INFINITY;
  #reading: Promise<void> | undefined;
  /** When `#reading` was sent (on `waits`: see `ready`). */
  #readingAt = 0;
  readonly #known = new Map<string, Known>();

  readonly l2: L2Tier | undefined;
  readonly time: Clock;
  readonly onError: (err: unknown) => void;
  readonly #deps: TagClockDeps;

  constructor(deps: TagClockDeps) {
    this.#deps = deps;
    this.l2 = deps.l2;
    this.time = deps.time;
    this.onError = deps.onError;
  }

  /**
   * The stamp of a row read (or written) now: every move this instance knows of is at or below it.
   * A stamp lower than it could be only costs reads; the counter is read again in the background
   * when it is older than the trust window.
   */
  stamp(): number {
    // A read out past an L2 call's deadline may be cut short (see `ready`): not waited for.
    const { waits } = this.#deps;
    const out = this.#reading && waits.now() - this.#readingAt < this.#deps.l2TimeoutMs;
    if (this.time.now() - this.#clockReadAt >= TRUST_MS && !out) {
      this.#readingAt = waits.now();
      this.#reading = this.read([]).then(
        () => {
          this.#reading = undefined;
        },
        (err: unknown) => {
          this.#reading = undefined;
          this.onError(err);
        },
      );
    }
    return this.#clock;
  }

  /**
   * Resolves once the counter was read (at once after that): a stamp taken before would be of no
   * epoch, refused everywhere. A failed read is counted; the stamps then stay refused.
   */
  async known(): Promise<void> {
    await this.ready()?.catch((err: unknown) => this.onError(err));
  }

  /**
   * Until the first read of the counter: a fresh instance's stamps would all be too low. The read
   * out is shared on this call's own timer, for an L2 call's deadline; past it, a read of its own.
   * In a Worker the read may belong to a request that has ended, its fetch cancelled (never
   * settles) and its deadline timer dropped: shared without a bound it held every later read of a
   * tagged schema (request-cut-short.test.ts).
   */
  ready(): Promise<void> | undefined {
    if (this.#clockReadAt !== Number.NEGATIVE_INFINITY) return undefined;
    this.stamp();
    // Past the deadline `stamp` sends another read (the same test of time as waitShared's).
    return waitShared(
      this.#reading!,
      this.#readingAt,
      this.#deps.l2TimeoutMs,
      () => this.ready() ?? Promise.resolve(),
      this.#deps.waits,
    );
  }

  /**
   * Whether rows tagged `tags` and stamped `stamp` are still valid: false when a tag moved after
   * the stamp, undefined when a tag's value is not known now (`read` it), else true.
   */
  check(tags: readonly string[], stamp: number): boolean | undefined {
    // Stamped in another epoch than the one this instance knows: its ticks say nothing of the tags'.
    if (tagEpoch(stamp) !== tagEpoch(this.#clock)) return false;
    const now = this.time.now();
    let known = true;
    for (const tag of tags) {
      const k = this.#known.get(tag);
      if (k === undefined) known = false;
      else if (k.value > stamp) return false;
      else if (now - k.readAt >= TRUST_MS) known = false;
    }
    return known || undefined;
  }

  /**
   * Whether a key's cached absence (a delete's tombstone, a negative entry) stamped `stamp` still
   * holds: no tag of the app moved after it. An absence has no row, so no tags, and the row a SQL
   * write made behind Strata's back may carry any tag: any move refuses it, as does a counter not
   * read within the trust window (read again in the background). Either costs a Postgres read.
   */
  absenceHolds(stamp: number): boolean {
    const trusted = this.time.now() - this.#clockReadAt < TRUST_MS;
    if (!trusted) this.stamp();
    return trusted && this.#clock <= stamp && tagEpoch(stamp) === tagEpoch(this.#clock);
  }

  /** Whether this instance knows the tag's value now (read or told within the trust window). */
  trusted(tag: string): boolean {
    const k = this.#known.get(tag);
    return k !== undefined && this.time.now() - k.readAt < TRUST_MS;
  }

  /**
   * Reads the counter and these tags' values in one request (a tag missing or of another epoch is
   * put at the counter's value, see `READ_TAGS`).
   */
  async read(tags: readonly string[]): Promise<void> {
    if (!this.l2) return;
    // Trusted from when the read was sent, as a generation is: Redis read them then or later, and
    // its reply may come back late. From the reply, a value 5 s old was still trusted for as long
    // as the reply was late (reliability/test/reorder-tag-read.test.ts).
    const at = this.time.now();
    const values = await readTags(this.l2, this.#deps.root, tags);
    this.#raise(values[0] ?? 0, at);
    this.learn(
      tags,
      tags.map((_, i) => Number(values[i + 1] ?? 0)),
      at,
    );
  }

  /**
   * What a tag move (this instance's, or a bus message) or a read says: each value, trusted from
   * `at` (undefined: a message, which moves the tags whatever their values). Tags whose value rose
   * go to `onMove`.
   */
  learn(tags: readonly string[], values: readonly number[], at?: number): void {
    const moved = new Set<string>();
    const readAt = at ?? this.time.now();
    tags.forEach((tag, i) => {
      const value = values[i] ?? 0;
      this.#adopt(value);
      const k = this.#known.get(tag);
      const same = k !== undefined && tagEpoch(k.value) === tagEpoch(value);
      if (at === undefined || (same && value > k.value)) moved.add(tag);
      // An older Strata's scale (its message) says nothing of the epoch: only the move counts.
      if (tagEpoch(value) >= 0 && (!same || value >= k.value)) {
        this.#known.delete(tag);
        this.#known.set(tag, { value, readAt });
      }
    });
    while (this.#known.size > MAX_KNOWN) this.#known.delete(this.#known.keys().next().value!);
    if (moved.size > 0) this.#deps.onMove(moved);
  }

  /** Moves `tags` on (one request): resolves their new values, already learned. */
  async bump(tags: readonly string[]): Promise<number[]> {
    const values = await bumpTags(this.l2!, this.#deps.root, tags);
    this.learn(tags, values);
    return values;
  }

  /**
   * Messages may have been missed: no value is trusted until read again. `reset`: Redis lost the
   * counter, so the stamps start again from what it holds now.
   */
  forget(reset = false): void {
    this.#known.clear();
    this.#clockReadAt = Number.NEGATIVE_INFINITY;
    if (reset) this.#clock = 0;
  }

  #raise(clock: number, at: number): void {
    this.#adopt(clock);
    this.#clockReadAt = at;
  }

  /**
   * A value of the counter's (read, or a tag's moved to it): higher in the epoch known, it raises
   * the counter; of another epoch, the counter was lost and started again there (what
   * Redis holds is read again; values known of the old epoch go, they no longer compare).
   */
  #adopt(value: number): void {
    if (tagEpoch(value) === tagEpoch(this.#clock)) {
      if (value > this.#clock) this.#clock = value;
      return;
    }
    if (tagEpoch(value) < 0) return; // an older Strata's scale: it counts for nothing here
    this.#clock = value;
    this.#clockReadAt = Number.NEGATIVE_INFINITY; // read again before the next stamp is trusted
    for (const [tag, k] of this.#known) if (tagEpoch(k.value) !== tagEpoch(value)) this.#known.delete(tag);
  }
}
