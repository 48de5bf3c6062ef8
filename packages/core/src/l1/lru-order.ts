import type { EvictionOrder } from './eviction-order.js';
import { SlotList } from './slot-list.js';

/**
 * Exact LRU: a read or a write makes a slot the most recent, i.e. moves it to the tail of a linked
 * list kept in typed arrays (four array writes, no allocation, no rehash). The head is the victim.
 */
export class LruOrder implements EvictionOrder {
  readonly #list: SlotList;

  constructor(capacity = 0) {
    this.#list = new SlotList(capacity);
  }

  grow(capacity: number): void {
    this.#list.grow(capacity);
  }
  insert(slot: number): void {
    this.#list.push(slot);
  }
  read(slot: number): void {
    this.#list.moveToTail(slot);
  }
  write(slot: number): void {
    this.#list.moveToTail(slot);
  }
  remove(slot: number): void {
    this.#list.unlink(slot);
  }
  victim(): number {
    return this.#list.head;
  }
  clear(): void {
    this.#list.clear();
  }
}
