/**
 * What a reset's restore takes to act on (`HeardVersions`, `OwnPending`'s replaced writes), kept
 * until the pass that took it completes (`drop`). Why: a restore whose L2 call failed, or whose
 * Worker request was cut short (its pass run again: `RestoreChain`), lost every version it had
 * taken: the run after it neither adopted those rows nor waited for their writers, and reads here
 * answered Postgres below writes this instance had been told of
 * (reliability/test/regression-restore-failed.test.ts).
 *
 * A taken entry reads as absent (`get`): until the pass ends, the map behaves as if it were
 * emptied, as the take did before; a later pass takes it again unless something newer replaced it.
 * Insertion order is kept (the oldest first), for the owners' bounds.
 */
export class TakenMap<V extends object> {
  readonly #map = new Map<string, V>();
  readonly #taken = new WeakSet<V>();

  /** `key`'s entry, unless a pass took it. */
  get(key: string): V | undefined {
    const v = this.#map.get(key);
    return v === undefined || this.#taken.has(v) ? undefined : v;
  }

  /** `key`'s entry, taken or not. */
  any(key: string): V | undefined {
    return this.#map.get(key);
  }

  /** Sets `key` as the newest entry (a taken one it replaces is no longer the pass's to drop). */
  set(key: string, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
  }

  delete(key: string): void {
    this.#map.delete(key);
  }

  /** The oldest entry's key, taken or not. */
  oldestKey(): string | undefined {
    return this.#map.keys().next().value;
  }

  /** Every entry, taken ones included. */
  get size(): number {
    return this.#map.size;
  }

  /** Oldest first, taken ones included. */
  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.#map[Symbol.iterator]();
  }

  /** Every entry (those taken before included), marked taken; kept until {@link drop}. */
  take(): [string, V][] {
    const out = [...this.#map];
    for (const [, v] of out) this.#taken.add(v);
    return out;
  }

  /** The pass that took `taken` completed: those still as taken go. */
  drop(taken: readonly (readonly [string, V])[]): void {
    for (const [key, v] of taken) if (this.#map.get(key) === v) this.#map.delete(key);
  }
}
