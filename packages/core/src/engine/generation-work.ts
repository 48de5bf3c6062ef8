/**
 * The work on a schema's L2 generation (see generation.ts): missed writes sent again, and the
 * reads and moves callers share while they are out.
 */

/**
 * A committed write L2 missed, sent again in generation `generation`: true once L2 took it (or
 * holds newer), false when it must not be trusted (the generation moved, Redis was reset). Sent
 * late, it marks its keys superseded at its versions (reads go to Postgres), never its rows: newer
 * writes of its keys may have come and gone meanwhile (a tombstone expired, a row evicted, a reset).
 */
export type MissedWriteRepair = (generation: number) => Promise<boolean>;

/** Rows of missed writes kept to be sent again, per bucket: past it the generation moves on instead. */
export const MAX_REPAIR_ROWS = 1_000;

/**
 * Work on the generation that reads join while it is out: a move, missed writes sent again, the
 * read that checks the keyPrefix claim. Shared on each caller's own timer, at most `ms` after
 * `sentAt` (on `SchemaGeneration.waits`; see `SchemaGeneration.#shared`).
 */
export interface GenerationWork {
  readonly done: Promise<number>;
  readonly sentAt: number;
  readonly ms: number;
  /**
   * `SchemaGeneration.forgets` when it was sent. Another since (a bus message: see `forget`) and
   * what it read or made may be from before the message: reads wait for it and read again rather
   * than join it (see `#afterTold`).
   */
  forgets: number;
}
