import type { EvictionOrder } from './eviction-order.js';
import { SlotList } from './slot-list.js';

/**
 * FIFO: the oldest inserted key goes first; reads and overwrites do not move it (a key only
 * re-enters at the back after it has left, e.g. expired or deleted, and is set again).
 */
export class FifoOrder implements EvictionOrder {
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
  read(): void {}
  write(): void {}
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
