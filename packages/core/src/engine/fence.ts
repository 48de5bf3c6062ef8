/** A read in flight (of one key or a batch): where the write stamps stood when it began. */
export interface ReadToken {
  readonly at: number;
}

/**
 * The write fence: a read that raced a write must not put its (possibly old) value into a cache.
 * A read is stale for a key when a write of that key began or ended after the read began, or is
 * still running. Reads register once whatever their number of keys (one token for a batch), and
 * writes are recorded only while reads are out: state lives only while reads or writes are in
 * flight, so memory does not grow with the key space. Per instance; across instances L2 fills use
 * set-if-absent and deletes leave tombstones.
 */
export class WriteFence {
  /** Moves on at every write's begin and end, of any key. */
  #stamp = 0;
  /** Key -> the stamp of its last write begin or end, kept while reads that began before it are out. */
  readonly #written = new Map<string, number>();
  /** Key -> writes of it running. */
  readonly #writing = new Map<string, number>();
  /**
   * Reads out that began at the newest stamp any read began at (`#newestAt`): a count, not a Map
   * entry, so reads with no write between them touch no Map. A long-lived Map whose table V8 has
   * moved to its old generation allocates a new table there every time its last entry goes (V8
   * shrinks it): set + delete of one entry cost ~600 ns instead of ~50, on every L2 read.
   */
  #newest = 0;
  #newestAt = 0;
  /** Older start stamp -> reads out that began at it (increasing stamps: the first is the oldest). */
  readonly #older = new Map<number, number>();
  /** #written's size past which entries no read out can see are dropped. */
  #pruneAt = PRUNE_MIN;

  /** Call before reading a lower tier; `stale(key, token)` then says whether the result may fill caches. */
  beginRead(): ReadToken {
    const at = this.#stamp;
    if (at !== this.#newestAt) {
      // A write moved the stamp on since the newest reads began: those are older now.
      if (this.#newest > 0) this.#older.set(this.#newestAt, this.#newest);
      this.#newestAt = at;
      this.#newest = 0;
    }
    this.#newest += 1;
    return { at };
  }

  /** Whether a write of `key` began during the read, ended during it, or is running. */
  stale(key: string, token: ReadToken): boolean {
    // No write running or recorded (the common case): no lookup per key of a batch.
    if (this.#writing.size === 0 && this.#written.size === 0) return false;
    if (this.#writing.has(key)) return true;
    const written = this.#written.get(key);
    return written !== undefined && written > token.at;
  }

  endRead(token: ReadToken): void {
    // Stamps only grow, so a read at the newest stamp is counted there, never in #older.
    if (token.at === this.#newestAt && this.#newest > 0) this.#newest -= 1;
    else {
      const left = (this.#older.get(token.at) ?? 0) - 1;
      if (left > 0) this.#older.set(token.at, left);
      else this.#older.delete(token.at);
    }
    // Only when it holds something: clearing a Map allocates a new table even when it is empty.
    if (this.#written.size === 0) return;
    if (!this.#readsOut()) this.#written.clear();
    else if (this.#written.size > this.#pruneAt) this.#prune();
  }

  /** Call before the write touches L3; every read already in flight on the key turns stale. */
  beginWrite(key: string): void {
    this.#writing.set(key, (this.#writing.get(key) ?? 0) + 1);
    this.#wrote(key);
  }

  /**
   * Call after the caches were updated; reads that began during the write stay stale. True when
   * no other write of `key` is running.
   */
  endWrite(key: string): boolean {
    const left = (this.#writing.get(key) ?? 0) - 1;
    if (left > 0) this.#writing.set(key, left);
    else this.#writing.delete(key);
    this.#wrote(key);
    return left <= 0;
  }

  /** Whether a write of `key` is running (begun, not ended). */
  writing(key: string): boolean {
    return this.#writing.has(key);
  }

  /** Keys with writes in flight or written under reads still out, plus the reads out (for tests and leak checks). */
  get size(): number {
    return this.#written.size + this.#writing.size + this.#older.size + (this.#newest > 0 ? 1 : 0);
  }

  #readsOut(): boolean {
    return this.#newest > 0 || this.#older.size > 0;
  }

  #wrote(key: string): void {
    this.#stamp += 1;
    // A read that begins from now on starts at this stamp or later: only reads out need the record.
    if (this.#readsOut()) this.#written.set(key, this.#stamp);
  }

  /** Drops the writes no read out began before (amortised: runs when #written has doubled). */
  #prune(): void {
    const oldest = this.#older.size > 0 ? (this.#older.keys().next().value as number) : this.#newestAt;
    for (const [key, stamp] of this.#written) if (stamp <= oldest) this.#written.delete(key);
    this.#pruneAt = Math.max(PRUNE_MIN, 2 * this.#written.size);
  }
}

const PRUNE_MIN = 64;
