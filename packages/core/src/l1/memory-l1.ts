import type { Clock } from '../clock.js';
import type { EvictionOrder } from './eviction-order.js';
import { checkNonNegativeMs, resolveL1Options } from './options.js';
import type { EvictReason, L1Entry, L1Stats, L1Tier, MemoryL1Options } from './types.js';

interface Removal<V> {
  readonly key: string;
  readonly value: V;
  readonly reason: EvictReason;
}

/**
 * The in-memory L1: a Map of entries plus an {@link EvictionOrder}; get and set are O(1) for every
 * policy. Expiry is lazy (checked on read) plus {@link MemoryL1.sweep}, which the tier never
 * schedules itself — core starts no timers; a host that has them calls `sweep()`.
 *
 * `onEvict` runs after the cache has changed, for every removal with its reason; a throw from it
 * is caught, counted in `stats().hookErrors` and handed to `onHookError`.
 *
 * @example
 * const l1 = createMemoryL1<User>({ maxEntries: 10_000, defaultTtlMs: toMs('1m'), eviction: 'lfu' });
 * l1.set('users:42', user);
 * l1.get('users:42'); // user
 */
class MemoryL1<V = unknown> implements L1Tier<V> {
  readonly #entries = new Map<string, L1Entry<V>>();
  readonly #order: EvictionOrder;
  readonly #maxEntries: number;
  readonly #defaultTtlMs: number;
  readonly #clock: Clock;
  readonly #onEvict: MemoryL1Options<V>['onEvict'];
  readonly #onHookError: MemoryL1Options<V>['onHookError'];
  #hits = 0;
  #misses = 0;
  #evictions = 0;
  #expirations = 0;
  #hookErrors = 0;

  constructor(options: MemoryL1Options<V> = {}) {
    const resolved = resolveL1Options(options);
    this.#maxEntries = resolved.maxEntries;
    this.#defaultTtlMs = resolved.defaultTtlMs;
    this.#order = resolved.order;
    this.#clock = resolved.clock;
    this.#onEvict = resolved.onEvict;
    this.#onHookError = resolved.onHookError;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): V | undefined {
    return this.getEntry(key)?.value;
  }

  getEntry(key: string): L1Entry<V> | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      this.#misses++;
      return undefined;
    }
    // No clock read for entries that never expire.
    if (entry.expiresAt !== 0 && isExpired(entry, this.#clock.now())) {
      this.#misses++;
      this.#notify(this.#expire(key, entry));
      return undefined;
    }
    this.#hits++;
    this.#order.read(key);
    return entry;
  }

  peek(key: string): L1Entry<V> | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    return entry.expiresAt !== 0 && isExpired(entry, this.#clock.now()) ? undefined : entry;
  }

  set(key: string, value: V, ttlMs?: number, version = 0): void {
    const ttl = ttlMs === undefined ? this.#defaultTtlMs : checkNonNegativeMs(ttlMs, 'ttlMs');
    const now = this.#clock.now();
    const entry: L1Entry<V> = { value, expiresAt: ttl === 0 ? 0 : now + ttl, version };
    const old = this.#entries.get(key);
    if (old !== undefined && !isExpired(old, now)) {
      this.#entries.set(key, entry);
      this.#order.write(key);
      return;
    }
    // At most one entry leaves per set: a dead previous value for this key, or one victim.
    let gone: Removal<V> | undefined;
    if (old !== undefined) gone = this.#expire(key, old);
    else if (this.#maxEntries > 0 && this.#entries.size >= this.#maxEntries) gone = this.#evictOne(now);
    this.#entries.set(key, entry);
    this.#order.insert(key);
    if (gone !== undefined) this.#notify(gone);
  }

  delete(key: string): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    if (isExpired(entry, this.#clock.now())) {
      this.#notify(this.#expire(key, entry));
      return false;
    }
    this.#remove(key);
    this.#notify({ key, value: entry.value, reason: 'deleted' });
    return true;
  }

  deletePrefix(prefix: string): number {
    const now = this.#clock.now();
    const gone: Removal<V>[] = [];
    for (const [key, entry] of this.#entries) {
      if (!key.startsWith(prefix)) continue;
      if (isExpired(entry, now)) gone.push(this.#expire(key, entry));
      else {
        this.#remove(key);
        gone.push({ key, value: entry.value, reason: 'deleted' });
      }
    }
    for (const removal of gone) this.#notify(removal);
    return gone.filter((r) => r.reason === 'deleted').length;
  }

  clear(): void {
    // Only snapshot when someone listens, so clear stays cheap without a hook.
    const snapshot = this.#onEvict === undefined ? [] : [...this.#entries];
    this.#entries.clear();
    this.#order.clear();
    for (const [key, entry] of snapshot) this.#notify({ key, value: entry.value, reason: 'cleared' });
  }

  sweep(): number {
    const now = this.#clock.now();
    const gone: Removal<V>[] = [];
    // Deleting the current key while iterating a Map is safe; hooks run only after the loop.
    for (const [key, entry] of this.#entries) {
      if (isExpired(entry, now)) gone.push(this.#expire(key, entry));
    }
    for (const removal of gone) this.#notify(removal);
    return gone.length;
  }

  stats(): L1Stats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
      expirations: this.#expirations,
      hookErrors: this.#hookErrors,
      size: this.#entries.size,
    };
  }

  #remove(key: string): void {
    this.#entries.delete(key);
    this.#order.remove(key);
  }

  #expire(key: string, entry: L1Entry<V>): Removal<V> {
    this.#remove(key);
    this.#expirations++;
    return { key, value: entry.value, reason: 'expired' };
  }

  #evictOne(now: number): Removal<V> | undefined {
    const key = this.#order.victim();
    const entry = key === undefined ? undefined : this.#entries.get(key);
    if (key === undefined || entry === undefined) return undefined;
    // A victim that had already expired is reported as what it is.
    if (isExpired(entry, now)) return this.#expire(key, entry);
    this.#remove(key);
    this.#evictions++;
    return { key, value: entry.value, reason: 'capacity' };
  }

  #notify(removal: Removal<V>): void {
    if (this.#onEvict === undefined) return;
    try {
      this.#onEvict(removal.key, removal.value, removal.reason);
    } catch (error) {
      this.#hookErrors++;
      this.#reportHookError(error, removal);
    }
  }

  #reportHookError(error: unknown, removal: Removal<V>): void {
    try {
      this.#onHookError?.(error, removal.key, removal.reason);
    } catch {
      // A throwing error reporter must not break the cache either; it is counted like the first.
      this.#hookErrors++;
    }
  }
}

/**
 * The in-memory L1 tier Strata keeps per schema, on its own: a Map plus an LRU, LFU or FIFO order,
 * O(1) get and set, lazy expiry and `sweep()`. Core starts no timers; a host that has them sweeps.
 *
 * @example
 * const l1 = createMemoryL1({ maxEntries: 50_000, defaultTtlMs: 60_000 });
 */
export function createMemoryL1<V = unknown>(options: MemoryL1Options<V> = {}): L1Tier<V> {
  return new MemoryL1(options);
}

function isExpired(entry: L1Entry<unknown>, now: number): boolean {
  return entry.expiresAt !== 0 && now >= entry.expiresAt;
}
