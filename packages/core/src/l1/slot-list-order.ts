import type { EvictionOrder } from './eviction-order.js';
import { SlotList } from './slot-list.js';

export interface SlotListOrderOptions {
  /**
   * true: exact LRU, a read or an overwrite makes a slot the most recent (moves it to the tail:
   * four array writes, no allocation, no rehash). false: FIFO, reads and overwrites leave it in
   * place, so a key only re-enters at the back after it has left (expired, deleted) and is set again.
   */
  readonly moveOnAccess: boolean;
}

/**
 * LRU and FIFO: one linked list of slots, the oldest (head) is the victim. They differ only in
 * whether a hit moves the slot, so one class serves both.
 */
export class SlotListOrder implements EvictionOrder {
  readonly #list: SlotList;
  readonly #moveOnAccess: boolean;

  constructor(options: SlotListOrderOptions, capacity = 0) {
    this.#list = new SlotList(capacity);
    this.#moveOnAccess = options.moveOnAccess;
  }

  grow(capacity: number): void {
    this.#list.grow(capacity);
  }
  insert(slot: number): void {
    this.#list.push(slot);
  }
  read(slot: number): void {
    if (this.#moveOnAccess) this.#list.moveToTail(slot);
  }
  write(slot: number): void {
    if (this.#moveOnAccess) this.#list.moveToTail(slot);
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
