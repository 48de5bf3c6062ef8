import type { ChangeSource } from '../capture/types.js';
import type { CompiledSchema } from '../schema/types.js';

/**
 * The NOTIFY channel the capture triggers signal on (payload: the schema's identity), only when
 * they logged something.
 * @example await client.query(`LISTEN ${CHANGES_CHANNEL}`); // then read the ChangeSource on a notification
 */
export const CHANGES_CHANNEL = 'strata_changes';

/**
 * How a captured table's schema changes (an `ALTER TABLE` that retypes, drops or renames a column,
 * or renames the table) reach the change log: `event-trigger` as the DDL commits (install had the
 * privilege to create one: a superuser, on Neon neon_superuser); else `fingerprint`, the change
 * source's check of each table's definition, at most once per its interval (default 60 s).
 */
export type CaptureDdlMode = 'event-trigger' | 'fingerprint';

/**
 * Whether a schema's change capture is in place: `missing` names what is absent, disabled or out
 * of date (`trigger _strata_capture_update`, `function … (outdated)`, `table _strata_changes`).
 * @example
 * for (const c of await strata.capture.check()) if (!c.installed) console.log(c.schema, c.missing);
 */
export interface CaptureCheck {
  /** The schema's identity (its qualified table). */
  readonly schema: string;
  readonly installed: boolean;
  readonly missing: readonly string[];
  /** How its schema changes are found (either way they move the schema's generation). */
  readonly ddl: CaptureDdlMode;
}

/**
 * Change capture over an L3 (optional member `L3Tier.capture`): Postgres triggers that record writes
 * made outside Strata into a change log, and the reader of that log. See docs/change-capture.md.
 * @example
 * await l3.capture?.install([playerSchema]);
 * const source = l3.capture!.source();
 * const page = await source.read(await source.start());
 */
export interface L3Capture {
  /** The change log's reader. */
  source(): ChangeSource;
  /**
   * Creates the log and the schemas' triggers, or brings them up to date (idempotent), and where the
   * role may, the event trigger that logs their schema changes (else the source's fingerprint check
   * finds them). Resolves the statements run. A schema whose `writeMode` is `'write-behind'` is logged without bumping versions
   * (its versions come from Redis): pass schemas with the write mode they run under. With `app`
   * (the app's keyPrefix; `strata.capture.install()` passes it), registers the app on the tables:
   * from then on the Strata writes of every other app to them are logged for it.
   */
  install(schemas: readonly CompiledSchema[], app?: string): Promise<string[]>;
  /**
   * With `app` (`strata.capture.remove()` passes it): unregisters it from the schemas' tables. A
   * table another app is still registered on keeps its triggers, its function made again for the
   * apps left (what an install by them alone makes); the others lose their triggers and functions.
   * Without `app`: every app's capture of the tables ends (registrations stay: an install by any of
   * them restores it for all). The event trigger goes with the last captured table; never a table,
   * never a row. Resolves the statements run.
   */
  remove(schemas: readonly CompiledSchema[], app?: string): Promise<string[]>;
  /** Reports, per schema, what of its capture is missing (with `app`: its registration too). */
  check(schemas: readonly CompiledSchema[], app?: string): Promise<CaptureCheck[]>;
}
