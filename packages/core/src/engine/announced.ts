/** Versions announced by other instances that L1 has not taken yet, kept per schema at most. */
const MAX_ANNOUNCED = 10_000;

/**
 * Per key, the newest version another instance announced (a bus message) that L1 has not taken
 * yet; Infinity, while a write of this instance is out, for a change of unknown version. L1 takes
 * nothing older: not a local write whose L2 reply came after the message (whose drop found
 * nothing in L1 yet), nor a row read from a replica (Redis or Postgres) that lags behind it. Up to
 * 10,000 keys, the oldest forgotten first.
 */
export class Announced {
  readonly #versions = new Map<string, number>();

  /** The version announced for `key` and not taken yet; undefined when none is. */
  of(key: string): number | undefined {
    return this.#versions.size === 0 ? undefined : this.#versions.get(key);
  }

  /** `version` of `key` was announced: kept unless a newer one is already. */
  note(key: string, version: number): void {
    const known = this.#versions.get(key);
    if (known !== undefined && known >= version) return;
    this.#versions.delete(key);
    this.#versions.set(key, version);
    if (this.#versions.size > MAX_ANNOUNCED) this.#versions.delete(this.#versions.keys().next().value!);
  }

  /** L1 took `key` at an announced version or newer: the announcement is met. */
  met(key: string): void {
    this.#versions.delete(key);
  }
}
