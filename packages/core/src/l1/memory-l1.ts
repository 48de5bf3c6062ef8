import type { Clock } from '../clock.js';
import { EntrySlots } from './entry-slots.js';
import type { EvictionOrder } from './eviction-order.js';
import { checkNonNegativeMs, resolveL1Options } from './options.js';
import { NO_SLOT } from './slot-list.js';
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
  /** Key -> slot in #slots: the one Map lookup of a hit. */
  readonly #index = new Map<string, number>();
  readonly #slots: EntrySlots<V>;
  readonly #order: EvictionOrder;
  readonly #growOrder: (capacity: number) => void;
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
    this.#slots = new EntrySlots<V>(resolved.maxEntries);
    const order = resolved.makeOrder(this.#slots.capacity);
    this.#order = order;
    this.#growOrder = (capacity) => order.grow(capacity);
    this.#clock = resolved.clock;
    this.#onEvict = resolved.onEvict;
    this.#onHookError = resolved.onHookError;
  }

  get size(): number {
    return this.#index.size;
  }

  get(key: string): V | undefined {
    const slot = this.#liveSlot(key);
    return slot === NO_SLOT ? undefined : this.#slots.values[slot];
  }

  getEntry(key: string): L1Entry<V> | undefined {
    const slot = this.#liveSlot(key);
    return slot === NO_SLOT ? undefined : this.#entryAt(slot);
  }

  peek(key: string): L1Entry<V> | undefined {
    const slot = this.#index.get(key);
    if (slot === undefined || this.#isExpired(slot, this.#clock.now())) return undefined;
    return this.#entryAt(slot);
  }

  set(key: string, value: V, ttlMs?: number, version = 0): void {
    const ttl = ttlMs === undefined ? this.#defaultTtlMs : checkNonNegativeMs(ttlMs, 'ttlMs');
    const now = this.#clock.now();
    this.#store(key, this.#index.get(key), value, ttl === 0 ? 0 : now + ttl, version, now);
  }

  offer(key: string, value: V, ttlMs?: number, version = 0): boolean {
    const ttl = ttlMs === undefined ? this.#defaultTtlMs : checkNonNegativeMs(ttlMs, 'ttlMs');
    const now = this.#clock.now();
    // One lookup for the check and the write, and no entry object (what `peek` + `set` cost).
    const old = this.#index.get(key);
    if (old !== undefined && (this.#slots.versions[old] as number) > version && !this.#isExpired(old, now))
      return false;
    this.#store(key, old, value, ttl === 0 ? 0 : now + ttl, version, now);
    return true;
  }

  /** `set`'s write, given the key's slot (`old`, if it has one) and the clock read once. */
  #store(
    key: string,
    old: number | undefined,
    value: V,
    expiresAt: number,
    version: number,
    now: number,
  ): void {
    const slots = this.#slots;
    if (old !== undefined && !this.#isExpired(old, now)) {
      slots.values[old] = value;
      slots.expiresAt[old] = expiresAt;
      slots.versions[old] = version;
      this.#order.write(old);
      return;
    }
    // At most one entry leaves per set: a dead previous value for this key, or one victim.
    let gone: Removal<V> | undefined;
    if (old !== undefined) gone = this.#expire(old);
    else if (this.#maxEntries > 0 && this.#index.size >= this.#maxEntries) gone = this.#evictOne(now);
    const slot = slots.take(key, value, expiresAt, version, this.#growOrder);
    this.#index.set(key, slot);
    this.#order.insert(slot);
    if (gone !== undefined) this.#notify(gone);
  }

  delete(key: string): boolean {
    const slot = this.#index.get(key);
    if (slot === undefined) return false;
    if (this.#isExpired(slot, this.#clock.now())) {
      this.#notify(this.#expire(slot));
      return false;
    }
    this.#notify(this.#remove(slot, 'deleted'));
    return true;
  }

  deletePrefix(prefix: string): number {
    return this.deleteWhere((key) => key.startsWith(prefix));
  }

  deleteWhere(test: (key: string, value: V) => boolean): number {
    const now = this.#clock.now();
    const gone: Removal<V>[] = [];
    let deleted = 0;
    // Deleting the current key while iterating a Map is safe; hooks run only after the loop.
    for (const [key, slot] of this.#index) {
      if (!test(key, this.#slots.values[slot] as V)) continue;
      if (this.#isExpired(slot, now)) gone.push(this.#expire(slot));
      else {
        gone.push(this.#remove(slot, 'deleted'));
        deleted++;
      }
    }
    for (const removal of gone) this.#notify(removal);
    return deleted;
  }

  clear(): void {
    // Only snapshot when someone listens, so clear stays cheap without a hook.
    const snapshot: Removal<V>[] = [];
    if (this.#onEvict !== undefined) {
      for (const [key, slot] of this.#index) {
        snapshot.push({ key, value: this.#slots.values[slot] as V, reason: 'cleared' });
      }
    }
    this.#index.clear();
    this.#slots.clear();
    this.#order.clear();
    for (const removal of snapshot) this.#notify(removal);
  }

  sweep(): number {
    const now = this.#clock.now();
    const gone: Removal<V>[] = [];
    for (const slot of this.#index.values()) {
      if (this.#isExpired(slot, now)) gone.push(this.#expire(slot));
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
      size: this.#index.size,
    };
  }

  /** The hit path: the key's slot when it holds a live entry (counted, marked used), else NO_SLOT. */
  #liveSlot(key: string): number {
    const slot = this.#index.get(key);
    if (slot === undefined) {
      this.#misses++;
      return NO_SLOT;
    }
    // No clock read for entries that never expire.
    const expiresAt = this.#slots.expiresAt[slot] as number;
    if (expiresAt !== 0 && this.#clock.now() >= expiresAt) {
      this.#misses++;
      this.#notify(this.#expire(slot));
      return NO_SLOT;
    }
    this.#hits++;
    this.#order.read(slot);
    return slot;
  }

  #isExpired(slot: number, now: number): boolean {
    const expiresAt = this.#slots.expiresAt[slot] as number;
    return expiresAt !== 0 && now >= expiresAt;
  }

  /** A copy of the entry in `slot` (a fresh object: only the write paths and callers of getEntry pay it). */
  #entryAt(slot: number): L1Entry<V> {
    const slots = this.#slots;
    return {
      value: slots.values[slot] as V,
      expiresAt: slots.expiresAt[slot] as number,
      version: slots.versions[slot] as number,
    };
  }

  #remove(slot: number, reason: EvictReason): Removal<V> {
    const slots = this.#slots;
    const removal = { key: slots.keys[slot] as string, value: slots.values[slot] as V, reason };
    this.#index.delete(removal.key);
    this.#order.remove(slot);
    slots.release(slot);
    return removal;
  }

  #expire(slot: number): Removal<V> {
    this.#expirations++;
    return this.#remove(slot, 'expired');
  }

  #evictOne(now: number): Removal<V> | undefined {
    const slot = this.#order.victim();
    if (slot === NO_SLOT) return undefined;
    // A victim that had already expired is reported as what it is.
    if (this.#isExpired(slot, now)) return this.#expire(slot);
    this.#evictions++;
    return this.#remove(slot, 'capacity');
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
