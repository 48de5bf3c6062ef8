import { getTableConfig } from 'drizzle-orm/pg-core';
import { StrataError } from '../../errors.js';
import { fnv1a } from '../../hash.js';
import { CHANGES_CHANNEL } from '../../l3/capture.js';
import type { CompiledSchema } from '../../schema/types.js';
import { qualifiedName, quoteIdentifier, quoteLiteral } from '../identifiers.js';
import type { CaptureTables } from './change-log.js';

/** One trigger per event: Postgres refuses transition tables on a trigger of several events. */
export const CAPTURE_EVENTS = ['insert', 'update', 'delete', 'truncate'] as const;
type CaptureEvent = (typeof CAPTURE_EVENTS)[number];

const QUOTE_TAG = '$strata_capture$';

/** What capture installs for one schema, named from its identity alone (the same on every run). */
export interface CapturePlan {
  readonly identity: string;
  /** The user's table, quoted (`"schema"."table"`, or `"table"` on the search path). */
  readonly target: string;
  /** The function's name (unquoted) and its quoted, qualified form. */
  readonly functionName: string;
  readonly functionTarget: string;
  /** The function's body as Postgres stores it (`pg_proc.prosrc`): what check() compares. */
  readonly body: string;
  readonly triggers: readonly { event: CaptureEvent; name: string }[];
}

export function triggerName(event: CaptureEvent): string {
  return `_strata_capture_${event}`;
}

/** `_strata_capture_` and 64 bits of the identity: one function per table, stable across instances. */
function functionName(identity: string): string {
  const hash = (basis: number) => fnv1a(identity, basis).toString(16).padStart(8, '0');
  return `_strata_capture_${hash(0x811c9dc5)}${hash(0x01000193)}`;
}

/**
 * Bumps the versions of the keys in `changed` (columns id, deleted) and logs them as one entry, in
 * one statement. Keys whose version row this transaction already wrote are left out: Strata's own
 * writes record their versions before their rows, so they are neither bumped twice nor logged.
 * (`me` is the top-level transaction: a write inside a savepoint still counts as this transaction's.)
 *
 * The test is one index probe per key whatever the plan: a scalar subquery is never turned into a
 * join. plpgsql keeps a generic plan after five runs, planned for the transition tables' size then
 * (one row, after single-row writes); as a NOT EXISTS anti-join that plan read every version row of
 * the schema once per key: half a million reads for a 1,000-row setMany.
 */
function logBumped(tables: CaptureTables, identity: string, op: CaptureEvent, changed: string): string {
  return `WITH changed ("id", "deleted") AS (${changed}),
      bumped AS (
        INSERT INTO ${tables.versions} AS v ("schema", "id", "version", "deleted")
        SELECT ${identity}, c."id", 1, c."deleted" FROM changed c
        WHERE (SELECT o.xmin FROM ${tables.versions} o WHERE o."schema" = ${identity} AND o."id" = c."id") IS DISTINCT FROM me
        ORDER BY c."id" COLLATE "C"
        ON CONFLICT ("schema", "id") DO UPDATE SET "version" = v."version" + 1, "deleted" = excluded."deleted", "updated_at" = now()
        WHERE v.xmin <> me
        RETURNING v."id", v."version"),
      logged AS (
        INSERT INTO ${tables.changes} ("schema", "op", "ids", "versions")
        SELECT ${identity}, '${op}', array_agg(b."id" ORDER BY b."id"), array_agg(b."version" ORDER BY b."id")
        FROM bumped b HAVING count(*) > 0
        RETURNING 1)
      SELECT count(*) INTO entries FROM logged;`;
}

/**
 * For a write-behind table: logs the keys in `changed` with the version they hold, bumping none.
 * Its versions come from a Redis counter that Postgres cannot see: a bump could take the very
 * number the counter hands to the next queued write of the key, which the flush would then refuse
 * as not newer, losing an acknowledged write. Unbumped, an outside write is ordered before every
 * write still queued (the queued one wins at its flush), and its invalidation replaces cached copies
 * at the same version (see docs/change-capture.md for the window that leaves). The lookup is a
 * LATERAL subquery that OFFSET 0 keeps from being flattened into a join: one index probe per key,
 * however few rows the cached plan was made for (see logBumped).
 */
function logUnbumped(tables: CaptureTables, identity: string, op: CaptureEvent, changed: string): string {
  return `WITH changed ("id", "deleted") AS (${changed}),
      seen AS (
        SELECT c."id", coalesce(o."version", 0) AS "version" FROM changed c
        LEFT JOIN LATERAL (SELECT o."version", o.xmin FROM ${tables.versions} o WHERE o."schema" = ${identity} AND o."id" = c."id" OFFSET 0) o ON true
        WHERE o.xmin IS DISTINCT FROM me),
      logged AS (
        INSERT INTO ${tables.changes} ("schema", "op", "ids", "versions")
        SELECT ${identity}, '${op}', array_agg(s."id" ORDER BY s."id"), array_agg(s."version" ORDER BY s."id")
        FROM seen s HAVING count(*) > 0
        RETURNING 1)
      SELECT count(*) INTO entries FROM logged;`;
}

/**
 * The trigger function's body: static SQL only (plpgsql caches its plans per table), one statement
 * per event, then a NOTIFY only when something was logged (Strata's own writes pay none).
 */
function functionBody(tables: CaptureTables, identityText: string, pk: string, bump: boolean): string {
  const identity = quoteLiteral(identityText);
  const logChanged = bump ? logBumped : logUnbumped;
  const key = (alias: string) => `${alias}.${pk}::text`;
  const inserted = `SELECT ${key('n')}, false FROM _strata_new n`;
  const deleted = `SELECT ${key('o')}, true FROM _strata_old o`;
  // A primary-key change: the old key is gone (a delete), the new one is there. Compared as text,
  // the key Strata uses: a type's own = may not be on the function's fixed search path.
  // EXCEPT, a set operation Postgres hashes: an anti-join on transition tables (no statistics)
  // could be planned as a nested loop, quadratic in the rows a statement updated.
  const updated = `${inserted} UNION ALL SELECT g."id", true FROM (SELECT ${key('o')} FROM _strata_old o EXCEPT SELECT ${key('n')} FROM _strata_new n) g ("id")`;
  return `
DECLARE
  me xid;
  entries bigint := 0;
BEGIN
  -- A statement that changed no row has nothing to log, and pays no subtransaction: an upsert fires
  -- both its INSERT and its UPDATE trigger, and one of the two always has empty transition tables.
  IF TG_OP = 'INSERT' OR TG_OP = 'UPDATE' THEN
    IF NOT EXISTS (SELECT 1 FROM _strata_new) THEN RETURN NULL; END IF;
  ELSIF TG_OP = 'DELETE' THEN
    IF NOT EXISTS (SELECT 1 FROM _strata_old) THEN RETURN NULL; END IF;
  END IF;
  -- A block of its own, so a failure to log becomes a warning rather than failing the user's
  -- statement. Its cost: a subtransaction per captured statement.
  BEGIN
    me := pg_current_xact_id()::xid;
    IF TG_OP = 'TRUNCATE' THEN
      INSERT INTO ${tables.changes} ("schema", "op") VALUES (${identity}, 'truncate');
      entries := 1;
    ELSIF TG_OP = 'INSERT' THEN
      ${logChanged(tables, identity, 'insert', inserted)}
    ELSIF TG_OP = 'UPDATE' THEN
      ${logChanged(tables, identity, 'update', updated)}
    ELSE
      ${logChanged(tables, identity, 'delete', deleted)}
    END IF;
    IF entries > 0 THEN
      PERFORM pg_notify(${quoteLiteral(CHANGES_CHANNEL)}, ${identity});
    END IF;
  EXCEPTION WHEN OTHERS THEN
    -- A deadlock, serialization failure or lock timeout fails the statement as it would without
    -- capture: swallowed, the row change would commit with no entry in the log.
    IF SQLSTATE LIKE '40%' OR SQLSTATE = '55P03' THEN
      RAISE;
    END IF;
    RAISE WARNING 'strata change capture of % failed (%): %; this statement is not in the change log',
      ${identity}, SQLSTATE, SQLERRM;
  END;
  RETURN NULL;
END;
`;
}

/** What capture installs for `schema`, its Strata tables in `tables`. */
export function capturePlan(tables: CaptureTables, schema: CompiledSchema): CapturePlan {
  const config = getTableConfig(schema.table);
  const name = functionName(schema.identity);
  const bump = schema.writeMode !== 'write-behind';
  const body = functionBody(tables, schema.identity, quoteIdentifier(schema.primaryKey.name), bump);
  if (body.includes(QUOTE_TAG)) {
    throw new StrataError('INVALID_MODEL', `schema ${schema.identity}: its name contains ${QUOTE_TAG}`);
  }
  return {
    identity: schema.identity,
    target: qualifiedName(config.schema, config.name),
    functionName: name,
    functionTarget: qualifiedName(tables.pgSchema, name),
    body,
    triggers: CAPTURE_EVENTS.map((event) => ({ event, name: triggerName(event) })),
  };
}

function createTrigger(plan: CapturePlan, event: CaptureEvent): string {
  const transition =
    event === 'insert'
      ? ' REFERENCING NEW TABLE AS "_strata_new"'
      : event === 'update'
        ? ' REFERENCING OLD TABLE AS "_strata_old" NEW TABLE AS "_strata_new"'
        : event === 'delete'
          ? ' REFERENCING OLD TABLE AS "_strata_old"'
          : '';
  return `CREATE OR REPLACE TRIGGER ${quoteIdentifier(triggerName(event))} AFTER ${event.toUpperCase()} ON ${plan.target}${transition} FOR EACH STATEMENT EXECUTE FUNCTION ${plan.functionTarget}()`;
}

/**
 * The function (as its owner, so any role that writes the table is captured; a fixed search path,
 * as every SECURITY DEFINER function needs) and its four triggers. Idempotent.
 */
export function installStatements(plan: CapturePlan): string[] {
  return [
    `CREATE OR REPLACE FUNCTION ${plan.functionTarget}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS ${QUOTE_TAG}${plan.body}${QUOTE_TAG}`,
    ...CAPTURE_EVENTS.map((event) => createTrigger(plan, event)),
  ];
}

/** Strata's triggers and function, never the table. Idempotent (IF EXISTS). */
export function removeStatements(plan: CapturePlan): string[] {
  return [
    ...CAPTURE_EVENTS.map(
      (event) => `DROP TRIGGER IF EXISTS ${quoteIdentifier(triggerName(event))} ON ${plan.target}`,
    ),
    `DROP FUNCTION IF EXISTS ${plan.functionTarget}()`,
  ];
}
