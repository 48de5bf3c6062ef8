import { type EvictionOrder, firstOf } from './eviction-order.js';

/**
 * FIFO: the oldest inserted key goes first; reads and overwrites do not move it (a key only
 * re-enters at the back after it has left, e.g. expired or deleted, and is set again).
 */
export class FifoOrder implements EvictionOrder {
  readonly #keys = new Set<string>();

  insert(key: string): void {
    this.#keys.add(key);
  }
  read(): void {}
  write(): void {}
  remove(key: string): void {
    this.#keys.delete(key);
  }
  victim(): string | undefined {
    return firstOf(this.#keys);
  }
  clear(): void {
    this.#keys.clear();
  }
}
