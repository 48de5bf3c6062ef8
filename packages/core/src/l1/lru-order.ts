import { type EvictionOrder, firstOf } from './eviction-order.js';

/**
 * LRU: a read or a write makes a key the most recent. A Set keeps insertion order, and moving a
 * key to its end is delete + add.
 */
export class LruOrder implements EvictionOrder {
  readonly #keys = new Set<string>();

  insert(key: string): void {
    this.#keys.add(key);
  }
  read(key: string): void {
    this.#keys.delete(key);
    this.#keys.add(key);
  }
  write(key: string): void {
    this.read(key);
  }
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
