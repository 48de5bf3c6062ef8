import { type SQL, type SQLWrapper, sql } from 'drizzle-orm';
import { fnv1a } from '../../hash.js';

/**
 * How the capture trigger tells Strata's own statement from any other, cheaply and exactly.
 *
 * An L3 with capture writes each statement's keys into a transaction-local setting named for the
 * table, prefixed with the statement's start time (`statement_timestamp()`, which every protocol
 * message renews): `2026-12-03 04:00:00.123456+00:{k1,k2}`. The table's statement trigger, at the end
 * of that statement, compares its transition keys with the set (one hashed EXCEPT, no subtransaction)
 * and returns at once when Strata wrote them all. Anything else is logged: rows a cascade changed
 * inside Strata's statement (a key outside the set) and every later statement of the transaction,
 * same keys included (a different start time). Writers that do not mark (an L3 without capture) are
 * told apart as before: keys whose version row this transaction wrote.
 *
 * The writing app (its keyPrefix) goes into a second setting, `strata.app`, with the same start
 * time: where another app has registered the table (`_strata_capture_apps`), the trigger logs
 * Strata's own keys too, under that app's name, for the other apps' relays (the writer's relay skips
 * them). A setting of its own rather than part of the mark: a trigger installed by an earlier version
 * reads the mark as a key array and would fail on anything else in it.
 */

/** 64 bits of the identity, hex: the same name on every instance and in every run. */
export function captureHash(identity: string): string {
  const hash = (basis: number) => fnv1a(identity, basis).toString(16).padStart(8, '0');
  return `${hash(0x811c9dc5)}${hash(0x01000193)}`;
}

/** The setting that holds the keys of Strata's current statement on the table of `identity`. */
export function ownWritesSetting(identity: string): string {
  return `strata.own_${captureHash(identity)}`;
}

/** The transaction-local setting that names the app of Strata's current statement (its keyPrefix). */
export const APP_SETTING = 'strata.app';

/**
 * The CTE that marks a write statement as Strata's own (`_strata_m`, its value referenced by
 * `marked` so the statement runs it), given the statement's key column as text, and the writing
 * app when known.
 */
export type OwnWritesMark = (
  identity: string,
  keys: SQL,
  source: SQLWrapper,
  app?: string,
) => { cte: SQL; marked: SQL };

export const ownWritesMark: OwnWritesMark = (identity, keys, source, app) => {
  const M = sql.identifier('_strata_m');
  const own = sql`set_config(${ownWritesSetting(identity)}, statement_timestamp()::text || ':' || coalesce((select array_agg(${keys}) from ${source})::text, '{}'), true)`;
  if (app === undefined) {
    return { cte: sql`${M} as (select ${own} as "m")`, marked: sql`(select "m" from ${M}) is not null` };
  }
  return {
    cte: sql`${M} as (select ${own} as "m", set_config(${APP_SETTING}, statement_timestamp()::text || ':' || ${app}::text, true) as "a")`,
    marked: sql`(select "m" is not null and "a" is not null from ${M})`,
  };
};
