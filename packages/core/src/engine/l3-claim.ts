import { StrataError } from '../errors.js';
import type { L3Tier } from '../l3/types.js';
import type { Logger } from '../observability/logger.js';
import { orAfter } from '../resilience/with-timeout.js';

/** How long a claim outlives the last generation read of any instance that made it. */
export const L3_CLAIM_TTL_MS = 60 * 60 * 1000;

/**
 * How long the first generation read waits for L3 to say which database it is. Past it the read
 * goes unchecked (the next one, within 5 s, checks): a slow or cold Postgres must not hold L2 hits.
 */
const IDENTITY_WAIT_MS = 200;

/**
 * Which database this instance's L3 is, claimed in Redis under the app's keyPrefix (`{root}:l3`,
 * checked and refreshed by every generation read, so at no extra round trip). A row's L2 key names
 * its table, not its database: two apps on different databases (staging and production, two Neon
 * branches, two developers) that share a Redis and a keyPrefix would serve each other's rows. The
 * second one is refused L2 instead (INVALID_CONFIG, logged; reads and write-through writes go on
 * from Postgres, write-behind is refused), until it gets its own keyPrefix or the first one's claim
 * lapses (an hour after its last read). The identity is asked of L3 once, at the first generation
 * read, which waits for it at most `IDENTITY_WAIT_MS`; when L3 cannot say in time (no `identity`,
 * a failure, a slow answer), that read goes unchecked and a later one checks.
 */
export class L3Claim {
  #known: string | undefined;
  #asking: Promise<string> | undefined;
  #failed = false;

  constructor(
    private readonly l3: L3Tier | undefined,
    private readonly keyPrefix: string,
    private readonly logger: Logger,
  ) {}

  /** Asks L3 now and waits for the answer (a failure is logged, not thrown). */
  async learn(): Promise<void> {
    void this.identity();
    await this.#asking;
  }

  /** This instance's L3 identity as learned so far: '' when L3 cannot say one, undefined until it has. */
  get known(): string | undefined {
    return this.#known ?? (this.l3?.identity ? undefined : '');
  }

  /**
   * The identity may still come: L3 can say it, has not yet, and has not failed to. Writes wait for
   * it then (see `Generation.forWrite`); after a failure they go on unchecked, as reads do.
   */
  get pending(): boolean {
    return this.#known === undefined && !this.#failed && this.l3?.identity !== undefined;
  }

  /** This instance's L3 identity, or '' while it is unknown. */
  identity(): Promise<string> {
    if (this.#known !== undefined) return Promise.resolve(this.#known);
    const ask = this.l3?.identity;
    if (!ask) return Promise.resolve('');
    this.#asking ??= ask.call(this.l3).then(
      (identity) => {
        this.#known = identity;
        return identity;
      },
      (err: unknown) => {
        this.#failed = true;
        this.#asking = undefined;
        this.logger.warn('L3 did not name its database: keyPrefix claim not checked yet', {
          error: String(err),
        });
        return '';
      },
    );
    // After a failure, a new question is asked but not waited for.
    return this.#failed ? Promise.resolve('') : orAfter(this.#asking, IDENTITY_WAIT_MS, '');
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
