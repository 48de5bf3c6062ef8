import type { Clock } from '../clock.js';
import { StrataError } from '../errors.js';
import type { L3Tier } from '../l3/types.js';
import type { Logger } from '../observability/logger.js';
import { waitShared } from '../resilience/bounded-share.js';
import type { Waits } from '../resilience/wait.js';

/** How long a claim outlives the last generation read of any instance that made it. */
export const L3_CLAIM_TTL_MS = 60 * 60 * 1000;

/**
 * How long the generation reads of a cold instance wait for L3 to say which database it is (one
 * wait, shared by every read made meanwhile). Past it they read L2 unchecked, L1 keeping none of it
 * (see `SchemaGeneration`): a slow or cold Postgres holds L2 hits for this long at most.
 */
export const IDENTITY_WAIT_MS = 200;

/** After a failed identity question, the next is asked no sooner than this; doubled per failure, to 5 s. */
const RETRY_MS = 250;
const MAX_RETRY_MS = 5_000;

/**
 * Which database this instance's L3 is, claimed in Redis under the app's keyPrefix (`{root}:l3`,
 * checked and refreshed by every generation read, so at no extra round trip). A row's L2 key names
 * its table, not its database: two apps on different databases (staging and production, two Neon
 * branches, two developers) that share a Redis and a keyPrefix would serve each other's rows. The
 * second one is refused L2 instead (INVALID_CONFIG, logged; reads and write-through writes go on
 * from Postgres, write-behind is refused), until it gets its own keyPrefix or the first one's claim
 * lapses (an hour after its last read).
 *
 * Writes fail closed: until L3 has said which database it is, the claim cannot be checked, and the
 * instance writes nothing to L2 (`notChecked`). Reads past the first question's 200 ms (or after it
 * failed) take L2 unchecked, as cached reads answer through a slow or failing Postgres: a read can
 * show another app's row then; a write could change it. The identity is asked of L3 once per instance (learnt,
 * it never changes); a failed question is asked again, no sooner than `RETRY_MS` after it (doubling
 * to 5 s), so an instance gets L2 back once Postgres answers. An L3 with no `identity` cannot be
 * checked at all: its `known` is '' and L2 is used unchecked (docs/semantics.md, "Identities").
 */
export class L3Claim {
  #known: string | undefined;
  #asking: Promise<string> | undefined;
  /** When `#asking` was sent (on `waits`, which the waits on it run on). */
  #askedAt = 0;
  /** When the generation reads began waiting for the first question (see `identity`). */
  #waitFrom: number | undefined;
  #warned = false;
  /** Why the last question failed (undefined while none has). */
  #failure: unknown;
  #retryAt = 0;
  #retryMs = RETRY_MS;

  /** L3 can say which database it is: the claim is checked, and L2 waits for it. */
  readonly checkable: boolean;

  constructor(
    private readonly l3: L3Tier | undefined,
    private readonly keyPrefix: string,
    private readonly logger: Logger,
    private readonly clock: Clock,
    /** The engine's waits (`ctx.waits`): the waits for a question run on them. */
    private readonly waits: Waits,
    /** How long a question may take (`timeouts.l3`): past it, it is not waited for, and asked again. */
    private readonly deadlineMs = 10_000,
  ) {
    this.checkable = l3?.identity !== undefined;
  }

  /** This instance's L3 identity as learned so far: '' when L3 cannot say one, undefined until it has. */
  get known(): string | undefined {
    return this.#known ?? (this.checkable ? undefined : '');
  }

  /**
   * Asks L3 now (unless a question is out, or the last failed and its retry is not due) and waits
   * for the answer, at most `timeouts.l3` (the L3's deadline). A failure is logged, not thrown: see `known`.
   */
  async learn(): Promise<void> {
    const start = this.waits.now();
    while (this.known === undefined) {
      const asking = this.#ask();
      if (!asking) return;
      // This call's own timer: the question's own deadline may never fire (see `#ask`).
      await waitShared(asking, this.#askedAt, this.deadlineMs, async () => '', this.waits);
      if (this.#askedAt >= start) return; // its own question had its whole deadline
    }
  }

  /**
   * Undefined when a write may go at once (the identity is known, or cannot be); else the wait for
   * it (`learn`), which rejects with `notChecked` when L3 did not say it. Before anything is
   * written: an instance that cannot check the claim leaves every tier as it was.
   */
  beforeWrite(): Promise<void> | undefined {
    if (this.known !== undefined) return undefined;
    return this.learn().then(() => {
      if (this.known === undefined) throw this.notChecked();
    });
  }

  /**
   * For a generation read: this instance's L3 identity, or '' while it is unknown. The first
   * question is waited for `IDENTITY_WAIT_MS` at most; one asked again after a failure is not.
   */
  identity(): Promise<string> {
    if (this.known !== undefined) return Promise.resolve(this.known);
    const asking = this.#ask();
    if (!asking || this.#failure !== undefined) return Promise.resolve('');
    // Each read waits on its own timer, what is left of the first question's IDENTITY_WAIT_MS: a timer
    // shared with the read that asked would never fire once that read's Worker request ended.
    this.#waitFrom ??= this.waits.now();
    return waitShared(asking, this.#waitFrom, IDENTITY_WAIT_MS, async () => '', this.waits).then(
      (identity) => identity || this.#unnamed(),
    );
  }

  /** '' for a generation read past the first question's wait; said once. */
  #unnamed(): string {
    if (!this.#warned && this.#failure === undefined) {
      this.#warned = true;
      this.logger.warn(
        `L3 did not name its database within ${IDENTITY_WAIT_MS} ms: keyPrefix '${this.keyPrefix}' is not checked yet (reads take L2 unchecked, writes wait)`,
      );
    }
    return '';
  }

  /**
   * The question out, or a new one. One out past its deadline is asked again: in a Worker, the
   * request that asked may have ended, its fetch cancelled (never settling) and its timers dropped.
   */
  #ask(): Promise<string> | undefined {
    if (this.#asking && this.waits.now() - this.#askedAt < this.deadlineMs) return this.#asking;
    if (this.clock.now() < this.#retryAt) return undefined;
    const asking = this.l3!.identity!().then(
      (identity) => {
        this.#known = identity;
        return identity;
      },
      (err: unknown) => {
        if (this.#asking !== asking) return ''; // given up on, and asked again since
        this.#failure = err;
        this.#asking = undefined;
        this.#retryAt = this.clock.now() + this.#retryMs;
        this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS);
        this.logger.warn(
          'L3 did not name its database: keyPrefix not checked (reads take L2 unchecked, writes are refused)',
          {
            error: String(err),
          },
        );
        return '';
      },
    );
    this.#asking = asking;
    this.#askedAt = this.waits.now();
    return asking;
  }

  /** Why L2 is not used yet (a read goes to Postgres; a write is refused before anything is written). */
  notChecked(): StrataError {
    return new StrataError(
      'L3_UNAVAILABLE',
      `L3 has not named its database, so keyPrefix '${this.keyPrefix}' is not checked: ` +
        'no L2 until it has (a write is refused, nothing written)',
      {
        ...(this.#failure !== undefined && { cause: this.#failure }),
        details: { keyPrefix: this.keyPrefix },
      },
    );
  }

  /** The refusal when the keyPrefix is claimed by an app on another database. */
  conflict(held: string, ours: string): StrataError {
    return new StrataError(
      'INVALID_CONFIG',
      `keyPrefix '${this.keyPrefix}' belongs to an app on another database (or schema, or table: ${held}; this is ${ours}): ` +
        'give each its own keyPrefix (a table, l2.keyPrefix). L2 is off until then',
      { details: { keyPrefix: this.keyPrefix, claimedBy: held, identity: ours } },
    );
  }
}
