/**
 * The order in which a full L1 gives up its keys. Every method is O(1); the tier tells the order
 * what happened to a key and asks it for the next victim.
 */
export interface EvictionOrder {
  /** A key entered the cache. */
  insert(key: string): void;
  /** A live key was read. */
  read(key: string): void;
  /** A live key's value was replaced by `set`. */
  write(key: string): void;
  /** A key left the cache, for any reason. */
  remove(key: string): void;
  /** The key to drop next, without removing it; undefined when empty. */
  victim(): string | undefined;
  clear(): void;
}

/** First element of an insertion-ordered Set, in O(1) (ignoring the engine's amortised compaction). */
export function firstOf(keys: Set<string>): string | undefined {
  return keys.values().next().value;
}
