/** The "no slot" link; slots are array indexes, so this is never one. */
export const NO_SLOT = -1;

/**
 * A doubly linked list of slots (the indexes of {@link MemoryL1}'s entry arrays), its links kept in
 * two typed arrays: no object, no Set and no tombstone per entry, every operation O(1). Head is the
 * oldest slot, tail the newest. Shared by the LRU, FIFO and SIEVE orders.
 */
export class SlotList {
  /** Towards the head (older); NO_SLOT at the head. */
  prev: Int32Array;
  /** Towards the tail (newer); NO_SLOT at the tail. */
  next: Int32Array;
  head = NO_SLOT;
  tail = NO_SLOT;

  constructor(capacity: number) {
    this.prev = new Int32Array(capacity);
    this.next = new Int32Array(capacity);
  }

  /** Makes room for slots below `capacity` (only ever grows). */
  grow(capacity: number): void {
    this.prev = grown(this.prev, capacity);
    this.next = grown(this.next, capacity);
  }

  /** Appends `slot` at the tail (the newest end). */
  push(slot: number): void {
    this.prev[slot] = this.tail;
    this.next[slot] = NO_SLOT;
    if (this.tail === NO_SLOT) this.head = slot;
    else this.next[this.tail] = slot;
    this.tail = slot;
  }

  unlink(slot: number): void {
    const before = this.prev[slot] as number;
    const after = this.next[slot] as number;
    if (before === NO_SLOT) this.head = after;
    else this.next[before] = after;
    if (after === NO_SLOT) this.tail = before;
    else this.prev[after] = before;
  }

  /** Moves `slot` (already in the list) to the tail. */
  moveToTail(slot: number): void {
    if (slot === this.tail) return;
    this.unlink(slot);
    this.push(slot);
  }

  clear(): void {
    this.head = NO_SLOT;
    this.tail = NO_SLOT;
  }
}

/** `array` copied into a longer one of `capacity` elements, or itself when it is long enough. */
export function grown<A extends Int32Array | Uint8Array | Float64Array>(array: A, capacity: number): A {
  if (array.length >= capacity) return array;
  const bigger = new (array.constructor as new (n: number) => A)(capacity);
  bigger.set(array);
  return bigger;
}
