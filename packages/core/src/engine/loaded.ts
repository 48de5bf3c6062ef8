import type { PendingWrite, Row } from '../l3/types.js';
import type { GraceCopy } from './read-aged.js';
import type { PositionStatus } from './read-status.js';

/**
 * What one load below L1 found: `rows[i]` for `keys[i]` (a row, or null: no row). The load's own
 * reader takes its rows by position; a read that joined it (another get of a key it loads) looks
 * its key up by name, through an index made only then, and only for a batch.
 * @example
 * const loaded = new Loaded(['p1', 'p2']);
 * loaded.rows[1] = row;
 * loaded.get('p2'); // row
 * loaded.get('p9'); // undefined: not loaded here
 */
export class Loaded {
  readonly rows: (Row | null)[];
  /** Aging schemas only (see read-aged.ts): positions answered with a stale L2 row (refreshed after). */
  stale: number[] | undefined;
  /** Grace copies L2 held past their stale window, by position: what answers if the source fails. */
  grace: (GraceCopy | undefined)[] | undefined;
  /** Where each position's answer came from, kept only for a status read (`findWithStatus`). */
  status: (PositionStatus | undefined)[] | undefined;
  /**
   * Replica key reads only (`replicaReads: 'all'`): per position L2 did not answer, the version the
   * value it held there carried (a dropped row's marker, a row of an older generation, a tombstone):
   * a replica's row older than that is older than a write L2 already saw (see `fromL3`).
   */
  floors: number[] | undefined;
  /**
   * Pending write-behind rows L2 held for keys it did not answer, orphaned by a move into a later
   * era (see orphaned-pending.ts), by key: answered where newer than what Postgres holds.
   */
  orphaned: Map<string, PendingWrite> | undefined;
  /** The longest a row may be stale to answer this load (a call's `stale`: see `maxStaleOf`). */
  maxStale: number;
  /** The promise this load is listed under in `inflight` (load-below-l1.ts `startLoad`), if it is. */
  listed: Promise<Loaded> | undefined;
  #index: Map<string, number> | undefined;

  constructor(readonly keys: readonly string[]) {
    this.rows = new Array<Row | null>(keys.length).fill(null);
    this.stale = undefined;
    this.grace = undefined;
    this.status = undefined;
    this.floors = undefined;
    this.orphaned = undefined;
    this.maxStale = Number.POSITIVE_INFINITY;
    this.listed = undefined;
  }

  /** The row found for `key` (null: none), or undefined when this load does not load `key`. */
  get(key: string): Row | null | undefined {
    const keys = this.keys;
    if (keys.length === 1) return keys[0] === key ? this.rows[0] : undefined;
    if (this.#index === undefined) {
      this.#index = new Map();
      for (let i = 0; i < keys.length; i++) this.#index.set(keys[i]!, i);
    }
    const i = this.#index.get(key);
    return i === undefined ? undefined : this.rows[i];
  }
}
