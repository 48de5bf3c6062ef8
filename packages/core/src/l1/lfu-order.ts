import type { EvictionOrder } from './eviction-order.js';
import { NO_SLOT } from './slot-list.js';

/** All slots used exactly `freq` times, in the order they reached that count. */
interface Bucket {
  readonly freq: number;
  readonly keys: Set<number>;
  prev: Bucket | undefined;
  next: Bucket | undefined;
}

/**
 * LFU in O(1) (Shah, Mitra & Matani, "An O(1) algorithm for implementing the LFU cache eviction
 * scheme", 2010): a doubly linked list of frequency buckets in increasing order, each an
 * insertion-ordered Set of slots. A use moves a key to the bucket for `freq + 1`, creating it next
 * to the current one if needed, so the head bucket is always the minimum frequency — also after a
 * delete, which the common "minFreq counter" variant can only recover with a scan.
 *
 * Ties: within a bucket the first key is the one that reached that count earliest, i.e. the least
 * recently used of them. Reads and writes both count as a use. Counts never decay, so a key that
 * was hot once stays cached until it is deleted or expires.
 */
export class LfuOrder implements EvictionOrder {
  #head: Bucket | undefined;
  readonly #bucketOf = new Map<number, Bucket>();

  grow(): void {}

  insert(key: number): void {
    let bucket = this.#head;
    if (bucket === undefined || bucket.freq !== 1) {
      bucket = this.#link(1, undefined, this.#head);
    }
    bucket.keys.add(key);
    this.#bucketOf.set(key, bucket);
  }

  read(key: number): void {
    const from = this.#bucketOf.get(key);
    if (from === undefined) return;
    let to = from.next;
    if (to === undefined || to.freq !== from.freq + 1) {
      to = this.#link(from.freq + 1, from, from.next);
    }
    to.keys.add(key);
    this.#bucketOf.set(key, to);
    this.#leave(from, key);
  }

  write(key: number): void {
    this.read(key);
  }

  remove(key: number): void {
    const bucket = this.#bucketOf.get(key);
    if (bucket === undefined) return;
    this.#bucketOf.delete(key);
    this.#leave(bucket, key);
  }

  victim(): number {
    return this.#head === undefined ? NO_SLOT : (this.#head.keys.values().next().value ?? NO_SLOT);
  }

  clear(): void {
    this.#head = undefined;
    this.#bucketOf.clear();
  }

  /** How many times `key` was used (1 after insert); for tests and diagnostics. */
  frequency(key: number): number | undefined {
    return this.#bucketOf.get(key)?.freq;
  }

  /** How many frequency buckets exist; never more than the number of keys. */
  get bucketCount(): number {
    let n = 0;
    for (let b = this.#head; b !== undefined; b = b.next) n++;
    return n;
  }

  #link(freq: number, prev: Bucket | undefined, next: Bucket | undefined): Bucket {
    const bucket: Bucket = { freq, keys: new Set(), prev, next };
    if (prev === undefined) this.#head = bucket;
    else prev.next = bucket;
    if (next !== undefined) next.prev = bucket;
    return bucket;
  }

  #leave(bucket: Bucket, key: number): void {
    bucket.keys.delete(key);
    if (bucket.keys.size > 0) return;
    if (bucket.prev === undefined) this.#head = bucket.next;
    else bucket.prev.next = bucket.next;
    if (bucket.next !== undefined) bucket.next.prev = bucket.prev;
  }
}
