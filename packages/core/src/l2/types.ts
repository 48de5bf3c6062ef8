/** A value in L2 with its remaining time to live (0 = no expiry), so upper tiers fill with what is left. */
export interface L2Entry {
  value: string;
  ttlMs: number;
}

export interface L2SetEntry {
  key: string;
  value: string;
  /** 0 = no expiry. */
  ttlMs: number;
  /**
   * Only when the key holds nothing (`SET … NX`). Cache fills use it: a fill carries what L3 held
   * when its read began, so it must never replace what a write (or its tombstone) put there since.
   */
  ifAbsent?: boolean;
}

/**
 * The L2 seam: remote key/value with TTL. Every method is one round trip whatever the number of keys
 * (a pipeline or a multi-key command). Values are strings: a binary codec's bytes travel as base64.
 * Implementations throw on failure; the engine wraps them with timeouts and a circuit breaker.
 */
export interface L2Tier {
  /** Short name for stats and logs, e.g. `upstash`, `ioredis`. */
  readonly name: string;
  /** Values and remaining TTLs, in the order of `keys`; `null` for a missing key. One round trip. */
  getMany(keys: readonly string[]): Promise<(L2Entry | null)[]>;
  /**
   * Sets every entry with its TTL, and INCRs each `bump` key in the same round trip (a write moves
   * its schema's search generation, or takes its write-behind versions, without a second request).
   * Resolves the bumped counters' new values, in the order of `bump`.
   */
  setMany(entries: readonly L2SetEntry[], bump?: readonly string[]): Promise<number[]>;
  /** Deletes the keys and INCRs each `bump` key; resolves how many keys existed. One round trip. */
  deleteMany(keys: readonly string[], bump?: readonly string[]): Promise<number>;
  /** Atomically increments an integer key (schema generations); resolves the new value. */
  incr(key: string): Promise<number>;
  /** Reads an integer key written by `incr`; 0 when absent. */
  getCounter(key: string): Promise<number>;
  /** Releases connections the tier opened itself (not ones handed to it). */
  close(): Promise<void>;
}
