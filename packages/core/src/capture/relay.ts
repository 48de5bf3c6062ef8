import type { Clock } from '../clock.js';
import { applyCapturedChanges } from '../engine/apply-changes.js';
import type { ChangeTarget } from '../engine/change-target.js';
import { isStrataError, messageOf, StrataError } from '../errors.js';
import { RELAY_RELEASE, RELAY_STORE, RELAY_TAKE } from '../l2/relay-scripts.js';
import type { L2Tier } from '../l2/types.js';
import type { CaptureCheck } from '../l3/capture.js';
import type { Logger } from '../observability/logger.js';
import { randomHex } from '../random-id.js';
import { waitShared } from '../resilience/bounded-share.js';
import type { Waits } from '../resilience/wait.js';
import { withTimeout } from '../resilience/with-timeout.js';
import { InstallCheck } from './install-check.js';
import { type RelayKeys, relayKeys } from './relay-keys.js';
import { RelayStats } from './relay-stats.js';
import { type CapturedChange, type ChangeSource, isCaptureNotInstalled } from './types.js';

/** An instance prunes the log at most this often (an hour, or a quarter of the retention). */
const PRUNE_EVERY_MS = 3_600_000;

/** What a relay is built from: where it reads, what it applies with, and its bounds. */
export interface ChangeRelayOptions {
  /** Where changes are read; none refuses the relay (INVALID_CONFIG). */
  readonly source: ChangeSource | undefined;
  /** The app's L2 (its shared cursor and lease live there); none refuses the relay (INVALID_CONFIG). */
  readonly l2: L2Tier | undefined;
  /** The app's key root (`keyPrefix`). */
  readonly root: string;
  /**
   * The app's bucket count (`config.buckets`, default 1): with several, the shared state lives in
   * bucket 0's slot (see `relayKeys`), and each changed row is marked in its own bucket.
   */
  readonly buckets?: number;
  /** This instance's name: the lease's holder is it and a token of the poll. */
  readonly instanceId: string;
  /** The cursor is read at most this often per app, whichever instance reads it. */
  readonly intervalMs: number;
  /**
   * Log entries older than this are pruned (when the source can), by the lease holder after a
   * read, at most every {@link PRUNE_EVERY_MS} per instance. Absent: never.
   */
  readonly retentionMs?: number;
  /** How long a lease lasts: longer than a read and its apply take (a holder that dies frees it then). */
  readonly leaseMs: number;
  /** The deadline of each call to the source (Postgres). */
  readonly readTimeoutMs: number;
  readonly clock: Clock;
  /** The engine's waits (`ctx.waits`): a poll shared with another call is waited for on them. */
  readonly waits: Waits;
  readonly logger: Logger;
  /**
   * The instance the changes read are applied to. The relay brings the applier itself (as
   * `applyChanges` of `@strata/core/admin` does): the engine does not, so a Worker that neither
   * relays nor applies changes does not bundle it.
   */
  readonly target: ChangeTarget;
  /** Drops every registered schema's caches: changes were lost (a gap), or none are known yet. */
  readonly dropAll: () => Promise<void>;
  /** Counts a failure among the engine's errors. */
  readonly countError: () => void;
  /** Runs `strata.capture.check()`, when the relay reads the L3's own log (absent: never checked). */
  readonly checkInstalled?: (() => Promise<CaptureCheck[]>) | undefined;
  /** Hands background work (the install check) to the engine, so close() waits for it. */
  readonly track: (work: Promise<unknown>) => void;
}

/** The options once checked: a source and an L2. */
type RelayOptions = ChangeRelayOptions & { readonly source: ChangeSource; readonly l2: L2Tier };

/**
 * What one poll of the change relay did.
 * @example
 * const outcome: PollOutcome | undefined = await strata.relayChanges();
 * if (outcome?.status === 'applied') console.log(outcome.changes, outcome.gap);
 */
export type PollOutcome =
  | { readonly status: 'applied'; readonly changes: number; readonly gap: boolean }
  /** Another instance holds the lease (it is reading now). */
  | { readonly status: 'busy' }
  /** The app's cursor moved within the interval: nothing is due. */
  | { readonly status: 'not-due' }
  /**
   * The source's change log does not exist (capture not installed): a state, reported once in the
   * log and in `stats().capture.notInstalled`, not counted as an error at every poll.
   */
  | { readonly status: 'not-installed' }
  | { readonly status: 'failed'; readonly error: unknown };

/**
 * Turns the change log into invalidations for the whole app: one instance per interval (whoever
 * takes the lease in L2) reads the source from the app's shared cursor, applies what it read, and
 * stores the new cursor only while it still holds the lease. Any instance may poll; none has to
 * be a dedicated worker. Never throws: failures are counted and logged, and the changes are read
 * again at the next poll (applying a change twice is harmless).
 *
 * @example
 * const relay = new ChangeRelay({ source, l2, root: 'app', instanceId, intervalMs: 1000, leaseMs: 15_000, readTimeoutMs: 10_000, clock, waits, logger, target, dropAll, countError, track });
 * await relay.poll(); // { status: 'applied', changes: 3, gap: false }, or 'busy' / 'not-due'
 */
export class ChangeRelay {
  readonly stats = new RelayStats();
  readonly options: RelayOptions;
  /** Whether the triggers it reads from are installed; undefined when the source is not the L3's own log. */
  readonly install: InstallCheck | undefined;
  readonly #keys: RelayKeys;
  /** The poll under way, and when it began (on `options.waits`). */
  #running: { readonly outcome: Promise<PollOutcome>; readonly at: number } | undefined;
  /** When this instance last pruned the log (it prunes at once when it first holds the lease). */
  #prunedAt = Number.NEGATIVE_INFINITY;

  /** Throws INVALID_CONFIG (nothing started) without a source or an L2. */
  constructor(options: ChangeRelayOptions) {
    const { source, l2, checkInstalled, logger, countError, track } = options;
    if (!source) refuse('capture.relay needs a change source: capture.source, or an L3 with change capture');
    if (!l2) refuse('capture.relay needs an L2: the cursor and the lease are shared there');
    this.options = { ...options, source, l2 };
    this.install = checkInstalled && new InstallCheck(checkInstalled, logger, countError, track);
    this.#keys = relayKeys(options.root, options.buckets);
  }

  /**
   * One poll: takes the lease unless another instance holds it or the cursor moved within the
   * interval (`force` skips that check, never the lease), reads, applies, stores the cursor.
   * Concurrent calls in this instance share one poll; a forced one waits for it and polls again.
   *
   * Shared for its lease at most, on this caller's own timer; past it, dropped and a poll of this
   * caller's own made (the lease lapsed: another instance may poll by then too). In a Worker the
   * call that began it may belong to a request that has ended, its fetches cancelled (they never
   * settle): shared unbounded, no poll of the isolate answered or ran again (cut-short-capture.test.ts).
   */
  poll(force = false): Promise<PollOutcome> {
    const running = this.#running;
    if (!running) {
      const run = {
        at: this.options.waits.now(),
        outcome: this.#poll(force).finally(() => {
          if (this.#running === run) this.#running = undefined;
        }),
      };
      this.#running = run;
      return run.outcome;
    }
    let own = false;
    const shared = waitShared(
      running.outcome,
      running.at,
      this.options.leaseMs,
      () => {
        if (this.#running === running) this.#running = undefined;
        own = true;
        return this.poll(force);
      },
      this.options.waits,
    );
    return force ? shared.then((outcome) => (own ? outcome : this.poll(true))) : shared;
  }

  async #poll(force: boolean): Promise<PollOutcome> {
    const { l2, clock, instanceId, leaseMs, intervalMs } = this.options;
    const keys = [this.#keys.lease, this.#keys.cursor, this.#keys.movedAt];
    // The lease names this poll, not only this instance: a process restarted under the same
    // configured instanceId while its old self was stalled mid-read must not have that old read's
    // late store accepted as its own (it would move the cursor back and end the new holder's lease).
    const holder = `${instanceId}#${randomHex(6)}`;
    this.stats.polls += 1;
    let taken: unknown[];
    // The cursor is stored as of when this read began, not when it ended: stored later, the next
    // poll an interval after this one would find it not yet due, and an idle app would read
    // Postgres every other interval.
    const startedAt = clock.now();
    try {
      const args = [holder, String(leaseMs), String(startedAt), String(force ? 0 : intervalMs)];
      taken = (await l2.run(RELAY_TAKE, keys, args)) as unknown[];
    } catch (err) {
      // The take may have run with its reply lost (a timeout): released at once (only if this poll
      // holds it), or every poll of every instance would find the lease busy until it lapses.
      await this.#release(keys, holder, true);
      return this.#failed('take the lease', err);
    }
    this.stats.seen(Number(taken[1] ?? 0));
    const status = Number(taken[0]);
    if (status === 0) return { status: 'busy' };
    if (status !== 1) return { status: 'not-due' };
    try {
      const outcome = await this.#read(
        taken[2] === undefined || taken[2] === null ? undefined : String(taken[2]),
        startedAt,
        holder,
      );
      return outcome;
    } catch (err) {
      // The lease goes at once, so the next poll (here or elsewhere) retries without waiting it out.
      await this.#release(keys, holder);
      if (isCaptureNotInstalled(err)) return this.#notInstalled();
      return this.#failed('read or apply the changes', err);
    }
  }

  /**
   * Ends `holder`'s lease (a no-op when another poll holds it); a failure is logged (at debug level
   * after a failed take, which was logged and counted itself): the lease lapses.
   */
  async #release(keys: string[], holder: string, afterTake = false): Promise<void> {
    await this.options.l2.run(RELAY_RELEASE, keys, [holder]).catch((release: unknown) => {
      this.options.logger[afterTake ? 'debug' : 'warn'](
        'change relay: releasing the lease failed; it expires',
        {
          error: String(release),
        },
      );
    });
  }

  #warnedNotInstalled = false;

  #notInstalled(): PollOutcome {
    if (!this.#warnedNotInstalled) {
      this.#warnedNotInstalled = true;
      this.options.logger.warn(
        'change relay: the change log does not exist yet; polling until capture is installed',
        {
          source: this.options.source.name,
        },
      );
    }
    return { status: 'not-installed' };
  }

  /** Reads from `stored` (none: a fresh start, which is a gap), applies, stores the next cursor. */
  async #read(stored: string | undefined, startedAt: number, holder: string): Promise<PollOutcome> {
    const { source, readTimeoutMs, l2, clock, logger } = this.options;
    let cursor = stored;
    let gap = false;
    if (cursor === undefined) {
      // Nothing says what changed before now: every captured schema's caches go.
      cursor = await withTimeout(source.start(), readTimeoutMs, `${source.name} start`);
      gap = true;
    }
    const page = await withTimeout(source.read(cursor), readTimeoutMs, `${source.name} read`);
    if (page.gap) gap = true;
    if (gap) {
      this.stats.gaps += 1;
      // A first start (no cursor yet) is the normal case, said at info; a log pruned past the
      // cursor means the relay fell behind: a warning (the default logger prints those).
      (stored === undefined ? logger.info : logger.warn).call(
        logger,
        'change relay: changes before the cursor are unknown; dropping every cached row',
        {
          source: source.name,
          reason: stored === undefined ? 'no cursor stored yet' : 'the change log was pruned past the cursor',
        },
      );
      await this.options.dropAll();
    }
    // This app's own writes, logged for the other apps on the table: its caches and bus followed them.
    const changes = page.changes.filter((change) => change.app !== this.options.root);
    if (changes.length > 0) await this.#apply(changes, gap);
    const keys = [this.#keys.lease, this.#keys.cursor, this.#keys.movedAt];
    const storedIt = Number(await l2.run(RELAY_STORE, keys, [holder, page.cursor, String(startedAt)]));
    if (storedIt !== 1) {
      // Applied all the same; the next holder reads them again from the cursor it finds.
      this.stats.leaseLost += 1;
      logger.warn('change relay: the lease ran out before the cursor was stored', { source: source.name });
    } else {
      this.stats.seen(startedAt);
      await this.#prune(startedAt);
    }
    this.stats.changes += changes.length;
    this.stats.lastAppliedAt = clock.now();
    return { status: 'applied', changes: changes.length, gap };
  }

  /**
   * Applies a page. A page the apply refuses as malformed (VALIDATION_FAILED: a source that wrote
   * what no change can be) would be read again at every poll and hold back every later change, so
   * it stands for what it cannot say: every cached row is dropped (a gap, counted and logged) and
   * the cursor moves past it. Any other failure (a tier down) is thrown: the page is read again.
   * That includes markers L2 did not take in every bucket (`allMarked`): over several buckets one
   * shard can be down while bucket 0, where the cursor lives, answers; storing the cursor then
   * would leave that shard's older rows cached for good. Applying the page again is harmless. The
   * apply counted those markers as one L2 error naming the buckets (their generations move on; the
   * other buckets' do not); the pass's failure is counted here as well.
   */
  async #apply(changes: readonly CapturedChange[], dropped: boolean): Promise<void> {
    try {
      await applyCapturedChanges(this.options.target, changes, { allMarked: true });
    } catch (error) {
      if (!isStrataError(error, 'VALIDATION_FAILED')) throw error;
      this.#failed('apply a malformed page of changes; dropping every cached row instead', error);
      if (dropped) return;
      this.stats.gaps += 1;
      await this.options.dropAll();
    }
  }

  /** Old entries go while this instance holds the lease; a failure is counted, the poll stands. */
  async #prune(now: number): Promise<void> {
    const { source, retentionMs, readTimeoutMs } = this.options;
    if (!source.prune || retentionMs === undefined) return;
    if (now - this.#prunedAt < Math.min(PRUNE_EVERY_MS, retentionMs / 4)) return;
    this.#prunedAt = now;
    try {
      await withTimeout(source.prune(retentionMs), readTimeoutMs, `${source.name} prune`);
      this.stats.prunes += 1;
    } catch (error) {
      this.#failed('prune the change log', error);
    }
  }

  #failed(what: string, error: unknown): PollOutcome {
    this.stats.errors += 1;
    this.options.countError();
    this.options.logger.warn(`change relay: could not ${what}`, {
      source: this.options.source.name,
      error: messageOf(error),
    });
    return { status: 'failed', error };
  }
}

function refuse(message: string): never {
  throw new StrataError('INVALID_CONFIG', message, { details: { field: 'capture.relay' } });
}
