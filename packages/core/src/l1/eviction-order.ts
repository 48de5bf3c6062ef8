/**
 * The order in which a full L1 gives up its entries. The tier keeps each entry in a numbered slot
 * and tells the order what happened to a slot; the order names the next victim. Every method is
 * O(1) (SIEVE's `victim` amortised); `read` runs on every hit, so it must be a few array writes.
 */
export interface EvictionOrder {
  /** Makes room for slots below `capacity` (the tier only ever grows). */
  grow(capacity: number): void;
  /** A slot was filled with a new key. */
  insert(slot: number): void;
  /** A live slot was read. */
  read(slot: number): void;
  /** A live slot's value was replaced by `set`. */
  write(slot: number): void;
  /** A slot's key left the cache, for any reason. */
  remove(slot: number): void;
  /** The slot to empty next, without removing it; NO_SLOT when empty. */
  victim(): number;
  clear(): void;
}
