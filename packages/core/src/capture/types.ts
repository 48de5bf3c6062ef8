/**
 * Change capture: writes made to a registered table outside Strata (admin SQL, another service, a
 * cron job, a migration) recorded by Postgres itself, so the caches can follow them. Postgres
 * triggers record each changed key with the version it holds afterwards into a change log; a
 * `ChangeSource` reads that log in an order that never skips a commit; a relay turns what it reads
 * into the invalidations Strata's own writes make (see docs/change-capture.md).
 */

import { StrataError } from '../errors.js';

/**
 * In a source's error (`details.reason`) when its log does not exist: capture was never installed
 * there. A state that lasts until someone installs it, not a failure of the read.
 */
export const CAPTURE_NOT_INSTALLED = 'capture-not-installed';

/** Whether `error` says the source's change log does not exist (see {@link CAPTURE_NOT_INSTALLED}). */
export function isCaptureNotInstalled(error: unknown): boolean {
  return error instanceof StrataError && error.details?.reason === CAPTURE_NOT_INSTALLED;
}

/**
 * What a captured statement did. `truncate` changed every row of the table; `ddl` changed the
 * table's definition (a column's type, a dropped or renamed column, a rename of the table), which
 * may change what every row reads back as without any row being written.
 */
export type ChangeOp = 'insert' | 'update' | 'delete' | 'truncate' | 'ddl';

/**
 * The keys one captured statement changed (a Strata app's own writes are captured only for the
 * other apps registered on the table, with `app`).
 * @example
 * const change: CapturedChange = { schema: 'players', ids: ['p1'], versions: [42], op: 'update' };
 * await applyChanges(strata, [change]); // from @strata/core/admin
 */
export interface CapturedChange {
  /** The schema's identity (its qualified table), as Strata names it everywhere. */
  readonly schema: string;
  /** The changed keys, as Postgres prints the primary key (`pk::text`); `null` for a truncate or a ddl. */
  readonly ids: readonly string[] | null;
  /** The version each key holds after the change, one for one with `ids`; `null` for a truncate or a ddl. */
  readonly versions: readonly number[] | null;
  readonly op: ChangeOp;
  /**
   * The Strata app (its `keyPrefix`) whose own write this is, logged for the other apps on the table
   * (their relays apply it; the writer's relay skips it, its caches and bus followed the write).
   * Absent for a write made outside Strata.
   */
  readonly app?: string;
}

/** One read of the change log. */
export interface ChangePage {
  /** Changes committed since the cursor read from (a source may repeat some: applying one twice is harmless). */
  readonly changes: readonly CapturedChange[];
  /** Where the next read starts. Opaque; store it as it is. */
  readonly cursor: string;
  /**
   * Entries after the cursor were pruned before anyone read them: what they said is lost, so the
   * reader must drop every captured schema's caches (a gap is never silent).
   */
  readonly gap: boolean;
}

/**
 * The change log as a reader sees it. Implemented by the Drizzle L3 over the log its triggers write.
 * @example
 * let cursor = await source.start();
 * const page = await source.read(cursor); // apply page.changes, then
 * cursor = page.cursor;
 */
export interface ChangeSource {
  readonly name: string;
  /** A cursor at "now": reading from it reports what commits from now on. */
  start(): Promise<string>;
  /** Everything committed after `cursor`, however many transactions were open or out of order. */
  read(cursor: string): Promise<ChangePage>;
  /**
   * Deletes entries older than `olderThanMs` (a reader whose cursor they were past then reads a
   * gap). Optional: a source that keeps nothing, or prunes itself, has none.
   */
  prune?(olderThanMs: number): Promise<unknown>;
}
