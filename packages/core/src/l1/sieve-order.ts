import type { EvictionOrder } from './eviction-order.js';
import { grown, NO_SLOT, SlotList } from './slot-list.js';

/**
 * SIEVE (Zhang et al., "SIEVE is Simpler than LRU", NSDI 2024): a FIFO list plus one "visited" bit
 * per slot. A hit only sets the bit (one byte write: no list move, which is what makes exact LRU
 * cost more on every hit). To evict, a hand walks from the oldest slot towards the newest, clearing
 * set bits, and stops at the first slot whose bit is clear; it stays there for the next eviction
 * and wraps to the oldest slot at the end. Survivors keep their place, so new keys that are never
 * read again leave quickly and popular ones stay: on skewed (Zipf) traffic it keeps more hits than
 * LRU. Each eviction clears at most as many bits as hits set since, so it is O(1) amortised.
 */
export class SieveOrder implements EvictionOrder {
  readonly #list: SlotList;
  #visited: Uint8Array;
  /** Where the next victim search starts; NO_SLOT = at the oldest slot. */
  #hand = NO_SLOT;

  constructor(capacity = 0) {
    this.#list = new SlotList(capacity);
    this.#visited = new Uint8Array(capacity);
  }

  grow(capacity: number): void {
    this.#list.grow(capacity);
    this.#visited = grown(this.#visited, capacity);
  }
  insert(slot: number): void {
    this.#visited[slot] = 0;
    this.#list.push(slot);
  }
  read(slot: number): void {
    this.#visited[slot] = 1;
  }
  write(slot: number): void {
    this.#visited[slot] = 1;
  }
  remove(slot: number): void {
    if (slot === this.#hand) this.#hand = this.#list.next[slot] as number;
    this.#list.unlink(slot);
  }
  victim(): number {
    const list = this.#list;
    const visited = this.#visited;
    let slot = this.#hand === NO_SLOT ? list.head : this.#hand;
    // Ends: a full lap clears every bit it passes.
    while (slot !== NO_SLOT && visited[slot] === 1) {
      visited[slot] = 0;
      slot = list.next[slot] as number;
      if (slot === NO_SLOT) slot = list.head;
    }
    this.#hand = slot;
    return slot;
  }
  clear(): void {
    this.#list.clear();
    this.#hand = NO_SLOT;
  }
}
