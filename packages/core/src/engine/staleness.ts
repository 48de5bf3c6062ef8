import type { Clock } from '../clock.js';
import { type Duration, toMs } from '../duration.js';
import type { CompiledSchema } from '../schema/types.js';

/**
 * How old a cached row is against its schema's windows: `fresh` (inside its TTL), `stale` (past it,
 * within `stale`: answered at once and refreshed in the background), `grace` (past that, within
 * `grace`: answered only when the source fails). Past every window it is gone.
 */
export type Age = 'fresh' | 'stale' | 'grace';

/**
 * A call's `stale` option as the longest a row may be past its fresh time to answer it (ms):
 * Infinity (the default, `true`) takes the schema's window, 0 (`false`) none; a Duration narrows it.
 * @example maxStaleOf('10s'); // 10_000: a row stale for longer is read through
 */
export function maxStaleOf(stale: boolean | Duration | undefined): number {
  return stale === undefined || stale === true ? Infinity : stale === false ? 0 : toMs(stale, 'stale');
}

/** Own writes remembered per schema (see `Staleness.wrote`): a bound, not a cache size. */
const MAX_WRITTEN = 50_000;
/** After a source failure a graced key is not asked again for this long (one try per key per second). */
const GRACE_BACKOFF_MS = 1_000;

/**
 * A schema's staleness budget (`stale`, `grace`) and what serving old rows needs to stay correct:
 * the versions this instance wrote (a stale or graced copy older than one is never answered: read
 * your writes beats availability), the keys being refreshed (one refresh per key per instance), and
 * the keys in grace backoff.
 *
 * Every cached row lives `tailMs` past its fresh time (L1's expiry, Redis's PX), so both tiers keep
 * it for the windows; an entry's fresh end is its expiry minus `tailMs` in L1, `freshUntil` in L2.
 * Absences (negative caching, tombstones) take no tail: they are never answered stale.
 */
export class Staleness {
  readonly staleMs: number;
  readonly graceMs: number;
  readonly tailMs: number;
  readonly refreshing = new Set<string>();
  readonly #written = new Map<string, number>();
  readonly #backoff = new Map<string, number>();

  /** A schema's windows (with neither, the schema has no Staleness: see SchemaCache.aging). */
  constructor(
    schema: Pick<CompiledSchema, 'name' | 'stale' | 'grace'>,
    readonly clock: Clock,
  ) {
    this.staleMs = schema.stale === undefined ? 0 : toMs(schema.stale, `${schema.name}.stale`);
    this.graceMs = schema.grace === undefined ? 0 : toMs(schema.grace, `${schema.name}.grace`);
    this.tailMs = Math.max(this.staleMs, this.graceMs);
  }

  /** How long a row with `ttlMs` of fresh time is kept (0: never expires, so never stale either). */
  hold(ttlMs: number): number {
    return ttlMs > 0 ? ttlMs + this.tailMs : 0;
  }

  /** The age of a row `pastMs` after its fresh end (≤ 0: still fresh); undefined past every window. */
  age(pastMs: number): Age | undefined {
    if (pastMs < 0) return 'fresh';
    if (pastMs < this.staleMs) return 'stale';
    if (pastMs < this.graceMs) return 'grace';
    return undefined;
  }

  /** The age of an L1 entry expiring at `expiresAt` (0: never). */
  l1Age(expiresAt: number, now = this.clock.now()): Age | undefined {
    return expiresAt === 0 ? 'fresh' : this.age(now - (expiresAt - this.tailMs));
  }

  /** When the grace of an L1 entry expiring at `expiresAt` (not 0) ends. */
  l1GraceEnd(expiresAt: number): number {
    return expiresAt - this.tailMs + this.graceMs;
  }

  /** This instance wrote `key` at `version` (a write, a delete, a flush it applied). */
  wrote(key: string, version: number): void {
    this.#written.delete(key);
    this.#written.set(key, version);
    if (this.#written.size > MAX_WRITTEN) this.#written.delete(this.#written.keys().next().value!);
  }

  /** Whether a copy of `key` at `version` may be answered stale or in grace: none of our writes is newer. */
  mayServe(key: string, version: number): boolean {
    const own = this.#written.get(key);
    return own === undefined || version >= own;
  }

  /** The source failed for `key`: its grace copy answers without asking again for a while. */
  backOff(key: string): void {
    this.#backoff.set(key, this.clock.now() + GRACE_BACKOFF_MS);
  }

  /** Whether `key` is in backoff (entries stay: one per key whose source failed, a few numbers). */
  backingOff(key: string): boolean {
    return (this.#backoff.get(key) ?? 0) > this.clock.now();
  }
}
