import type { Clock } from '../clock.js';

/**
 * Which entry a full L1 drops. `sieve` (the default): the oldest entry not read since the eviction
 * hand last passed it (SIEVE; a hit only sets a bit, and it keeps more hits than LRU on skewed
 * traffic); `lru`: the least recently used (exact); `lfu`: the least frequently used; `fifo`: the
 * oldest inserted.
 */
export type EvictionPolicy = 'sieve' | 'lru' | 'lfu' | 'fifo';

/**
 * Why an entry left L1. `capacity`: pushed out by `maxEntries`; `expired`: its TTL ran out
 * (found by a read, a sweep, or a delete/eviction/overwrite that met it already dead); `deleted`:
 * `delete` or `deletePrefix` of a live entry; `cleared`: `clear` (live or not — clear does not
 * look at expiry, so it stays cheap).
 */
export type EvictReason = 'capacity' | 'expired' | 'deleted' | 'cleared';

/**
 * A stored value, when it expires (ms since epoch; 0 = never) and its version (what orders it
 * against other writes of the key; 0 when the caller gave none). Never mutate it.
 */
export interface L1Entry<V> {
  readonly value: V;
  readonly expiresAt: number;
  readonly version: number;
}

export interface L1Stats {
  /** Reads (`get`/`getEntry`) that found a live entry. */
  hits: number;
  /** Reads that found nothing or an expired entry. */
  misses: number;
  /** Entries dropped because of `maxEntries` (an already expired victim counts as an expiration). */
  evictions: number;
  /** Entries dropped because their TTL ran out. */
  expirations: number;
  /** `onEvict` calls that threw (the error is passed to `onHookError` when given). */
  hookErrors: number;
  /** Entries currently held, including expired ones not yet found by a read or a sweep. */
  size: number;
}

/**
 * The in-isolate, synchronous cache tier. Keys are strings (the engine builds them, e.g.
 * `users:42`); values are stored as given, without copying.
 */
export interface L1Tier<V = unknown> {
  /**
   * The live value, or undefined. Lazy expiry: an expired entry is removed and counted as a miss.
   * A stored `undefined` looks like a miss here; `getEntry` tells them apart.
   */
  get(key: string): V | undefined;
  /** Like `get`, with the expiry, so a fill of an upper tier can use the remaining TTL. */
  getEntry(key: string): L1Entry<V> | undefined;
  /**
   * The live entry without counting a read or touching the eviction order (an expired one is left
   * to the next read or sweep): for deciding whether a value may replace it.
   */
  peek(key: string): L1Entry<V> | undefined;
  /** Stores `value`. `ttlMs`: undefined = the tier's default, 0 = never expire. `version` defaults to 0. */
  set(key: string, value: V, ttlMs?: number, version?: number): void;
  /**
   * `set`, unless a live entry of `key` holds a newer version (greater than `version`): then nothing
   * changes and it returns false. What `peek` then `set` decide, in one lookup: every fill of a
   * read (L2 or L3 answered an L1 miss) offers its row this way.
   */
  offer(key: string, value: V, ttlMs?: number, version?: number): boolean;
  /** Removes the entry; true when a live entry was removed. */
  delete(key: string): boolean;
  /** Removes every entry whose key starts with `prefix` (O(size)); returns how many live ones. */
  deletePrefix(prefix: string): number;
  /** Removes every entry `test` picks (O(size)); returns how many live ones. */
  deleteWhere(test: (key: string, value: V) => boolean): number;
  /** Removes every entry. */
  clear(): void;
  readonly size: number;
  /** Removes expired entries now (O(size)); returns how many. For hosts that have timers. */
  sweep(): number;
  stats(): L1Stats;
}

export interface MemoryL1Options<V> {
  /**
   * Most entries this instance holds; 0/undefined = unlimited. The total for the instance: the Go
   * library Strata's `MaxEntries` is per shard (x256 shards); here there are none (one isolate, one thread).
   */
  maxEntries?: number;
  /** TTL for `set` without one; 0/undefined = never expire. */
  defaultTtlMs?: number;
  /** Default `sieve`. */
  eviction?: EvictionPolicy;
  /** Default `systemClock`. */
  clock?: Clock;
  /**
   * Called after an entry has left the cache, for every reason (see {@link EvictReason}) — filter
   * on `reason` for "evicted" in the Go library Strata's sense (`capacity` and `expired`). Not called when
   * `set` replaces a live value. The cache is consistent when it runs, so it may call back in.
   */
  onEvict?: (key: string, value: V, reason: EvictReason) => void;
  /** Receives what `onEvict` threw; the error is counted in `stats().hookErrors` either way. */
  onHookError?: (error: unknown, key: string, reason: EvictReason) => void;
}
