import type { Loaded } from './loaded.js';

/**
 * The loads below L1 in flight, by key (request coalescing: a miss of a key joins the load already
 * reading it). A Map, except that the delete that would empty it drops the Map for a new one.
 *
 * Why: a long-lived Map's table ends up in V8's old generation, and V8 shrinks a table on the
 * delete that leaves it (nearly) empty, allocating the smaller one in the generation the old one
 * is in. So every read that lists its key and unlists it (each L2 hit, one at a time) paid an
 * old-generation allocation: set + delete of one key cost ~600 ns instead of ~50 (measured on
 * Node 20), about a tenth of the engine's work on an L2 hit. A new Map starts in the young
 * generation, where allocating is a pointer bump, and is garbage once the next one replaces it.
 *
 * @example
 * const inflight = new InflightLoads();
 * inflight.set('p1', load);
 * inflight.get('p1'); // load
 * inflight.delete('p1'); // the Map is new again
 */
export class InflightLoads {
  #map = new Map<string, Promise<Loaded>>();

  get size(): number {
    return this.#map.size;
  }

  get(key: string): Promise<Loaded> | undefined {
    return this.#map.get(key);
  }

  set(key: string, load: Promise<Loaded>): void {
    this.#map.set(key, load);
  }

  delete(key: string): void {
    const map = this.#map;
    if (map.size !== 1) map.delete(key);
    else if (map.has(key)) this.#map = new Map();
  }

  /**
   * Takes `keys` out where they are still listed under `load` (a write may have detached one, and a
   * later load listed it again). When every entry left is `load`'s and there are as many as its
   * keys, they are all its own and the Map is replaced whole: a batch of 1,000 keys read alone (the
   * common case) costs one pass over the Map's values instead of 1,000 lookups and 1,000 deletes
   * (each shrinking the table as it empties). `keys` distinct, as a load's are.
   */
  unlist(keys: readonly string[], load: Promise<Loaded>): void {
    const map = this.#map;
    if (keys.length > 1 && map.size === keys.length) {
      let others = false;
      for (const listed of map.values()) {
        if (listed !== load) {
          others = true;
          break;
        }
      }
      if (!others) {
        this.#map = new Map();
        return;
      }
    }
    for (const key of keys) if (map.get(key) === load) this.delete(key);
  }

  clear(): void {
    if (this.#map.size > 0) this.#map = new Map();
  }
}
