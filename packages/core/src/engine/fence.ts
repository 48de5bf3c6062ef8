/** A read in flight on one key: set stale when a write to that key begins or ends meanwhile. */
export interface ReadToken {
  stale: boolean;
}

interface KeyState {
  writers: number;
  /** An array, not a Set: a key rarely has more than one read out (concurrent ones share a load). */
  readers: ReadToken[];
}

/**
 * The write fence: a read that raced a write must not put its (possibly old) value into a cache.
 * State exists only while reads or writes on a key are in flight, so memory does not grow with the
 * key space. Per instance; across instances L2 fills use set-if-absent and deletes leave tombstones.
 */
export class WriteFence {
  readonly #keys = new Map<string, KeyState>();

  /** Call before reading a lower tier; `token.stale` says whether the result may fill caches. */
  beginRead(key: string): ReadToken {
    const state = this.#state(key);
    const token: ReadToken = { stale: state.writers > 0 };
    state.readers.push(token);
    return token;
  }

  endRead(key: string, token: ReadToken): void {
    const state = this.#keys.get(key);
    if (!state) return;
    const { readers } = state;
    const at = readers.indexOf(token);
    if (at >= 0) {
      readers[at] = readers[readers.length - 1]!;
      readers.pop();
    }
    this.#prune(key, state);
  }

  /** Call before the write touches L3; every read already in flight on the key turns stale. */
  beginWrite(key: string): void {
    const state = this.#state(key);
    state.writers += 1;
    for (const token of state.readers) token.stale = true;
  }

  /** Call after the caches were updated; reads that began during the write stay stale. */
  endWrite(key: string): void {
    const state = this.#keys.get(key);
    if (!state) return;
    state.writers -= 1;
    for (const token of state.readers) token.stale = true;
    this.#prune(key, state);
  }

  /** Keys with reads or writes in flight (for tests and leak checks). */
  get size(): number {
    return this.#keys.size;
  }

  #state(key: string): KeyState {
    let state = this.#keys.get(key);
    if (!state) {
      state = { writers: 0, readers: [] };
      this.#keys.set(key, state);
    }
    return state;
  }

  #prune(key: string, state: KeyState): void {
    if (state.writers === 0 && state.readers.length === 0) this.#keys.delete(key);
  }
}
