import { SHAPE_ALONE, SHAPE_SENTINEL } from '../l2/shape-scripts.js';
import type { KeySpace } from './keys.js';

/** What a write script's shape tail adds to its KEYS and ARGV (see `SHAPE_TAIL`). */
export interface ShapeTail {
  readonly keys: readonly string[];
  readonly args: readonly string[];
}

/**
 * The other shapes of this schema's table live now, as this instance last learned them: from each
 * generation read (which also confirms this shape live, see `GENERATION`) and from a write script
 * that found them changed (status `SHAPES_CHANGED`). A rolling deploy runs two code versions of a
 * table at once, each caching rows under its own row keys; every write marks the other shapes' keys
 * of the rows it changes, in its own script (see `SHAPE_TAIL`), which refuses the write when the
 * shapes sent are not the live ones, so a shape that registers meanwhile is never missed.
 *
 * @example
 * const shapes = new LiveShapes(keys);
 * shapes.learn(['0abc123-json']);
 * shapes.tail(['p1'], 'k3x9a1', 60_000, Date.now() + 60_000).keys; // registry, then p1's key under 0abc123-json
 */
export class LiveShapes {
  #others: readonly string[] = [];
  /** The short tail while no other shape is live (the usual case), made once (see `SHAPE_ALONE`). */
  readonly #alone: ShapeTail;

  constructor(readonly keys: KeySpace) {
    this.#alone = { keys: [keys.shapesKey], args: [keys.shape, SHAPE_ALONE] };
  }

  /** The other live shapes (sorted); empty in the normal case (one version deployed). */
  get others(): readonly string[] {
    return this.#others;
  }

  /** What a script replied as the live shapes: strings, sorted as Redis sorts them (byte order). */
  learn(live: unknown): void {
    const shapes = Array.isArray(live) ? live.filter((s): s is string => typeof s === 'string') : [];
    shapes.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.#others = shapes.filter((s) => s !== this.keys.shape);
  }

  /**
   * The tail of a write of the rows `ids` (their keys): the registry, each row's key under every
   * other live shape, and what their markers carry (`owner`, living `ttlMs`, to `expiresAt`).
   */
  tail(ids: readonly string[], owner: string, ttlMs: number, expiresAt: number): ShapeTail {
    const others = this.#others;
    if (others.length === 0) return this.#alone;
    const keys = [this.keys.shapesKey];
    for (const id of ids) for (const shape of others) keys.push(this.keys.rowOf(shape, id));
    const args = [
      this.keys.shape,
      ...others,
      owner,
      String(expiresAt),
      String(Math.ceil(ttlMs)),
      String(others.length),
      String(keys.length - 1),
      SHAPE_SENTINEL,
    ];
    return { keys, args };
  }
}

/**
 * A write-behind write found another shape of its table live (its script refused it, wrote
 * nothing): the writer sends it through Postgres instead (see `Writer`). Internal, never thrown at
 * a caller.
 */
export class OtherShapesLive extends Error {
  constructor() {
    super('another shape of the table is live');
  }
}
