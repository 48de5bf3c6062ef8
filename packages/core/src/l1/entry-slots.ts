import { grown } from './slot-list.js';

/** First capacity of an L1 without a bound, and the step at which small bounded ones start. */
const FIRST_CAPACITY = 64;

/**
 * The storage behind {@link MemoryL1}: entry `i` is `keys[i]`, `values[i]`, `expiresAt[i]`,
 * `versions[i]`, a column per field instead of an object per entry (a Map from key to slot number
 * finds it). Times and versions live unboxed in Float64Arrays, so an entry costs no allocation
 * besides the Map's own slot; this is what puts L1 at or under lru-cache's bytes per entry.
 * Capacity doubles as needed, never past `maxEntries` (0 = unbounded); freed slots are reused first.
 */
export class EntrySlots<V> {
  keys: (string | undefined)[];
  values: (V | undefined)[];
  /** ms since epoch; 0 = never expires. */
  expiresAt: Float64Array;
  versions: Float64Array;
  #capacity: number;
  /** Slots below this were handed out once; those not live are in #free. */
  #used = 0;
  readonly #free: number[] = [];

  constructor(readonly maxEntries: number) {
    this.#capacity = maxEntries > 0 ? Math.min(maxEntries, FIRST_CAPACITY) : FIRST_CAPACITY;
    this.keys = new Array(this.#capacity);
    this.values = new Array(this.#capacity);
    this.expiresAt = new Float64Array(this.#capacity);
    this.versions = new Float64Array(this.#capacity);
  }

  get capacity(): number {
    return this.#capacity;
  }

  /**
   * A free slot, filled in; `grow` is called first when the arrays had to get longer (so the
   * eviction order can follow).
   */
  take(key: string, value: V, expiresAt: number, version: number, grow: (capacity: number) => void): number {
    let slot = this.#free.pop();
    if (slot === undefined) {
      if (this.#used === this.#capacity) grow(this.#grow());
      slot = this.#used++;
    }
    this.keys[slot] = key;
    this.values[slot] = value;
    this.expiresAt[slot] = expiresAt;
    this.versions[slot] = version;
    return slot;
  }

  /** Empties `slot` (drops its references, so the value can be collected) for reuse. */
  release(slot: number): void {
    this.keys[slot] = undefined;
    this.values[slot] = undefined;
    this.#free.push(slot);
  }

  clear(): void {
    this.keys.fill(undefined);
    this.values.fill(undefined);
    this.#used = 0;
    this.#free.length = 0;
  }

  #grow(): number {
    const doubled = this.#capacity * 2;
    // Bounded: stop at maxEntries; should a caller ever need more, grow rather than write past the end.
    const capacity = this.maxEntries > this.#capacity ? Math.min(doubled, this.maxEntries) : doubled;
    this.keys = copied(this.keys, capacity);
    this.values = copied(this.values, capacity);
    this.expiresAt = grown(this.expiresAt, capacity);
    this.versions = grown(this.versions, capacity);
    this.#capacity = capacity;
    return capacity;
  }
}

function copied<T>(array: T[], capacity: number): T[] {
  const bigger = new Array<T>(capacity);
  for (let i = 0; i < array.length; i++) bigger[i] = array[i] as T;
  return bigger;
}
