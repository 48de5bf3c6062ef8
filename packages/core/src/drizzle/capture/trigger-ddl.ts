import { getTableConfig } from 'drizzle-orm/pg-core';
import { StrataError } from '../../errors.js';
import { CHANGES_CHANNEL } from '../../l3/capture.js';
import type { CompiledSchema } from '../../schema/types.js';
import { qualifiedName, quoteIdentifier, quoteLiteral } from '../identifiers.js';
import { tellSql, tellSqlOfRegistry } from './capture-apps.js';
import type { CaptureTables } from './change-log.js';
import { doBlock } from './do-block.js';
import { APP_SETTING, captureHash, ownWritesSetting } from './own-writes.js';

/** One trigger per event: Postgres refuses transition tables on a trigger of several events. */
export const CAPTURE_EVENTS = ['insert', 'update', 'delete', 'truncate'] as const;
type CaptureEvent = (typeof CAPTURE_EVENTS)[number];

const QUOTE_TAG = '$strata_capture$';
/** The longest a trigger waits for a lock on Strata's tables when the user's lock_timeout sets none. */
const LOG_LOCK_WAIT = '1s';
/** Install's and remove's DO blocks quote the function's DDL with this, and write in `tell` for the apps registered. */
const DDL_TAG = '$strata_capture_ddl$';
const APPS_TOKEN = '__strata_registered_apps__';

/** What capture installs for one schema, named from its identity alone (the same on every run). */
export interface CapturePlan {
  readonly identity: string;
  /** The user's table, quoted (`"schema"."table"`, or `"table"` on the search path). */
  readonly target: string;
  /** The function's name (unquoted) and its quoted, qualified form. */
  readonly functionName: string;
  readonly functionTarget: string;
  /**
   * The function's body as Postgres stores it (`pg_proc.prosrc`) with the apps the plan was made
   * for (none unless given): what check() compares.
   */
  readonly body: string;
  /** The body with a token where install writes in `tell` for the apps registered at the time. */
  readonly template: string;
  readonly triggers: readonly { event: CaptureEvent; name: string }[];
}

export function triggerName(event: CaptureEvent): string {
  return `_strata_capture_${event}`;
}

/** `_strata_capture_` and 64 bits of the identity: one function per table, stable across instances. */
function functionName(identity: string): string {
  return `_strata_capture_${captureHash(identity)}`;
}

/**
 * Which changed keys are not Strata's own: not among the keys Strata's current statement wrote
 * (`own`, see own-writes.ts; `NOT IN` a subquery is a hashed subplan, linear in the keys), and, when
 * the writer does not mark its statements (`by_xmin`), not a key whose version row this transaction
 * wrote (a scalar subquery: one index probe per key whatever the cached plan; as a join, plpgsql's
 * generic plan, made after single-row writes, read every version row of the schema once per key).
 * (`me` is the top-level transaction: a write inside a savepoint still counts as this transaction's.)
 */
function notOwn(tables: CaptureTables, identity: string): string {
  return `c."id" NOT IN (SELECT unnest(own))
          AND (NOT by_xmin OR (SELECT o.xmin FROM ${tables.versions} o WHERE o."schema" = ${identity} AND o."id" = c."id") IS DISTINCT FROM me)`;
}

/**
 * Bumps the versions of the keys in `changed` (columns id, deleted) that are not Strata's own and
 * logs them as one entry, in one statement.
 */
function logBumped(tables: CaptureTables, identity: string, op: CaptureEvent, changed: string): string {
  return `WITH changed ("id", "deleted") AS (${changed}),
      bumped AS (
        INSERT INTO ${tables.versions} AS v ("schema", "id", "version", "deleted")
        SELECT ${identity}, c."id", 1, c."deleted" FROM changed c
        WHERE ${notOwn(tables, identity)}
        ORDER BY c."id" COLLATE "C"
        ON CONFLICT ("schema", "id") DO UPDATE SET "version" = v."version" + 1, "deleted" = excluded."deleted", "updated_at" = now()
        WHERE NOT by_xmin OR v.xmin <> me
        RETURNING v."id", v."version"),
      logged AS (
        INSERT INTO ${tables.changes} ("schema", "op", "ids", "versions")
        SELECT ${identity}, '${op}', array_agg(b."id" ORDER BY b."id"), array_agg(b."version" ORDER BY b."id")
        FROM bumped b HAVING count(*) > 0
        RETURNING 1)
      SELECT count(*) INTO entries FROM logged;`;
}

/**
 * Logs the keys in `changed` that are not Strata's own with the version they hold plus `ahead`,
 * bumping none (no version row is locked).
 *
 * A write-behind table (`ahead` 0): its versions come from a Redis counter that Postgres cannot
 * see: a bump could take the very number the counter hands to the next queued write of the key,
 * which the flush would then refuse as not newer, losing an acknowledged write. Unbumped, an outside
 * write is ordered before every write still queued (the queued one wins at its flush), and its
 * invalidation replaces cached copies at the same version (see docs/change-capture.md for the
 * window that leaves).
 *
 * A write-through table whose version rows are locked by a concurrent writer (`ahead` 1): see
 * `bumpOrLog`.
 */
function logUnbumped(
  tables: CaptureTables,
  identity: string,
  op: CaptureEvent,
  changed: string,
  ahead: 0 | 1 = 0,
): string {
  const version = `coalesce((SELECT o."version" FROM ${tables.versions} o WHERE o."schema" = ${identity} AND o."id" = c."id"), 0)${ahead ? ' + 1' : ''}`;
  return `WITH changed ("id", "deleted") AS (${changed}),
      seen AS (
        SELECT c."id", ${version} AS "version"
        FROM changed c
        WHERE ${notOwn(tables, identity)}),
      logged AS (
        INSERT INTO ${tables.changes} ("schema", "op", "ids", "versions")
        SELECT ${identity}, '${op}', array_agg(s."id" ORDER BY s."id"), array_agg(s."version" ORDER BY s."id")
        FROM seen s HAVING count(*) > 0
        RETURNING 1)
      SELECT count(*) INTO entries FROM logged;`;
}

/**
 * Logs the keys in `changed` that Strata's current statement wrote (`own`) at the versions it gave
 * them, under the writing app's name (`writer`): for the other apps registered on the table, whose
 * relays apply it (the writer's skips it). Nothing is bumped: the versions are the write's own.
 */
function logOwn(tables: CaptureTables, identity: string, op: CaptureEvent, changed: string): string {
  return `WITH changed ("id", "deleted") AS (${changed}),
      told AS (
        SELECT c."id", coalesce((SELECT o."version" FROM ${tables.versions} o WHERE o."schema" = ${identity} AND o."id" = c."id"), 0) AS "version"
        FROM changed c
        WHERE c."id" IN (SELECT unnest(own))),
      logged AS (
        INSERT INTO ${tables.changes} ("schema", "op", "ids", "versions", "app")
        SELECT ${identity}, '${op}', array_agg(t."id" ORDER BY t."id"), array_agg(t."version" ORDER BY t."id"), writer
        FROM told t HAVING count(*) > 0
        RETURNING 1)
      SELECT entries + count(*) INTO entries FROM logged;`;
}

/**
 * A write-through table: bumps and logs, waiting at most 50 ms for a version row. An outside
 * statement holds its rows' locks before its trigger runs; a Strata writer locks a key's version
 * row before its row. Both on one key at once would deadlock (Postgres breaks it after a second by
 * failing one of them). A version row this trigger cannot lock soon is held by such a writer, which
 * commits a newer version after this statement (it waits for this row) or rolls back: the keys are
 * logged unbumped, at the version they hold plus one, which supersedes every copy from before this
 * statement either way. `lock_timeout` set inside the block goes back with it, caught or not.
 */
function bumpOrLog(tables: CaptureTables, identity: string, op: CaptureEvent, changed: string): string {
  return `BEGIN
        saved_lock_timeout := current_setting('lock_timeout');
        PERFORM set_config('lock_timeout', '50ms', true);
        ${logBumped(tables, identity, op, changed)}
        PERFORM set_config('lock_timeout', saved_lock_timeout, true);
      EXCEPTION WHEN lock_not_available THEN
        ${logUnbumped(tables, identity, op, changed, 1)}
      END;`;
}

/**
 * Sets `behind`: whether the table is written write-behind now, read from its writer claim in
 * `_strata_writers` (claimed at each instance's first write, engine/writer-claim.ts), not fixed at
 * install: an app redeployed in the other mode is followed without installing capture again. A
 * 'write-behind' row, live or lapsed (a lapsed app may still have writes queued), logs outside keys
 * unbumped (see `logUnbumped`); a 'write-through' row bumps them (`bumpOrLog`). No row, or no table
 * (nothing written through Strata yet): the mode capture was installed for (`bumpUnclaimed`). Read only
 * here, for a statement with keys to log: Strata's own statements leave on the fast path first.
 *
 * A switch write-through → write-behind: the write-behind claim sets the row's mode and starts
 * unseeded, so before its first write the app moves its version counter into a new epoch, taken from
 * Postgres and above every version before it (engine/writer-claim.ts, `seedCounter`). An outside
 * statement that read the row before that claim committed bumps a version below the new epoch (one
 * more than a version written before it): the counter's next number is still above it, and the
 * queued write wins at its flush. One that reads the row after logs unbumped, as a write-behind
 * table's trigger always did. A switch write-behind → write-through: once the write-through claim
 * commits, outside keys are bumped above the version every cache holds, and each tier drops its copy
 * at the relay; one read before is logged at the held version (the staleness a write-behind table
 * has, docs/change-capture.md).
 *
 * Left open, in READ COMMITTED: an outside statement that read 'write-through' just before a
 * write-behind claim committed, and whose bump then waits (at most 50 ms, `bumpOrLog`) on a version
 * row that the new claim's first flush holds, bumps on top of that flush: the key's next queued
 * write, numbered one above the flushed one, is then refused at its flush. Closing it would take a
 * share lock on the claim row, held until the outside transaction ends, which stalls claims behind
 * long transactions.
 *
 * `to_regclass` first: a statement on a table plpgsql cannot find fails when it is first planned,
 * and the statement is planned only when the table is there (a plan made then follows the table).
 */
function writeModeNow(tables: CaptureTables, identity: string, bumpUnclaimed: boolean): string {
  const fallback = bumpUnclaimed ? 'false' : 'true';
  return `behind := ${fallback};
      IF to_regclass(${quoteLiteral(tables.writers)}) IS NOT NULL THEN
        behind := coalesce((SELECT w."mode" = 'write-behind' FROM ${tables.writers} w WHERE w."schema" = ${identity}), ${fallback});
      END IF;`;
}

/**
 * A statement whose entry the log did not take is a gap: it raises the meta row's mark to this
 * transaction, as a prune of its entry would (the relay's next read after the commit finds its
 * cursor at or below the mark, and drops every cached row). Before, the loss was a WARNING only and
 * every instance served the row the statement replaced until its TTL
 * (reliability/test/probe-capture-log-failure.test.ts). Committed with the statement, so a rolled
 * back one marks nothing; the row lock it takes is held to the commit, so statements whose entries
 * fail at once queue on it (never the ones the log takes). A mark that fails too is a warning (the
 * write still commits), unless it is a deadlock or a lock wait run out: that fails the statement
 * rather than leave it unlogged and unmarked.
 */
function markLost(tables: CaptureTables, identity: string): string {
  return `BEGIN
      UPDATE ${tables.meta} SET "pruned_xid" = greatest("pruned_xid", pg_current_xact_id());
    EXCEPTION WHEN OTHERS THEN
      IF SQLSTATE LIKE '40%' OR SQLSTATE = '55P03' THEN
        RAISE;
      END IF;
      RAISE WARNING 'strata change capture of % could not mark the gap (%): %', ${identity}, SQLSTATE, SQLERRM;
    END;`;
}

/**
 * The function's body: static SQL only (plpgsql caches its plans per table), one statement per
 * event, then a NOTIFY only when something was logged.
 */
function functionBody(
  tables: CaptureTables,
  identityText: string,
  pk: string,
  bump: boolean,
  tell: string,
): string {
  const identity = quoteLiteral(identityText);
  // Each event's statement in both forms, the one for the mode the table is written in now.
  const logChanged = (op: Exclude<CaptureEvent, 'truncate'>, changed: string) => `IF behind THEN
        ${logUnbumped(tables, identity, op, changed)}
      ELSE
        ${bumpOrLog(tables, identity, op, changed)}
      END IF;`;
  const key = (alias: string) => `${alias}.${pk}::text`;
  const inserted = `SELECT ${key('n')}, false FROM _strata_new n`;
  const deleted = `SELECT ${key('o')}, true FROM _strata_old o`;
  // A primary-key change: the old key is gone (a delete), the new one is there. Compared as text,
  // the key Strata uses: a type's own = may not be on the function's fixed search path.
  // EXCEPT, a set operation Postgres hashes: an anti-join on transition tables (no statistics)
  // could be planned as a nested loop, quadratic in the rows a statement updated.
  const updated = `${inserted} UNION ALL SELECT g."id", true FROM (SELECT ${key('o')} FROM _strata_old o EXCEPT SELECT ${key('n')} FROM _strata_new n) g ("id")`;
  // Whether every changed key is one of `own`: compared in place for a short list, hashed for a long
  // one (a 1,000-key setMany), so the test stays linear and a single-row write pays the least.
  const short = (alias: string, table: string) =>
    `NOT EXISTS (SELECT 1 FROM ${table} ${alias} WHERE ${key(alias)} <> ALL(own))`;
  const long = (keys: string) => `NOT EXISTS ((${keys}) EXCEPT SELECT unnest(own))`;
  const newKeys = `SELECT ${key('n')} FROM _strata_new n`;
  const oldKeys = `SELECT ${key('o')} FROM _strata_old o`;
  // `tell` (see capture-apps.ts): Strata's own statement, all of whose keys are its own, is quiet
  // unless another app than the writer is registered on the table. A constant expression written in
  // by install (`false` while no app is), evaluated inside the fast path's query: no table read, no
  // statement more.
  return `
DECLARE
  me xid;
  entries bigint := 0;
  mark text := current_setting(${quoteLiteral(ownWritesSetting(identityText))}, true);
  started text;
  -- The keys Strata's current statement wrote: none for any other statement.
  own text[] := '{}';
  -- The app that wrote them (its keyPrefix): '' for any other statement, or a mark that names none.
  writer text := '';
  -- Nothing in this transaction marked: its writer's own keys are those whose version row it wrote.
  by_xmin boolean := coalesce(mark, '') = '';
  saved_lock_timeout text;
  user_lock_timeout text;
  -- Whether the table is written write-behind now: outside keys are logged unbumped (see writeModeNow).
  behind boolean;
BEGIN
  IF NOT by_xmin THEN
    started := statement_timestamp()::text || ':';
    IF left(mark, length(started)) = started THEN
      own := substr(mark, length(started) + 1)::text[];
    END IF;
  END IF;
  -- Nothing to log when Strata's statement wrote every key the statement changed and no other app
  -- needs to hear of it: one query, and no subtransaction.
  IF cardinality(own) <= 32 THEN
    IF TG_OP = 'INSERT' THEN
      IF ${short('n', '_strata_new')} AND NOT ${tell} THEN RETURN NULL; END IF;
    ELSIF TG_OP = 'UPDATE' THEN
      IF ${short('n', '_strata_new')} AND ${short('o', '_strata_old')} AND NOT ${tell} THEN RETURN NULL; END IF;
    ELSIF TG_OP = 'DELETE' THEN
      IF ${short('o', '_strata_old')} AND NOT ${tell} THEN RETURN NULL; END IF;
    END IF;
  ELSIF TG_OP = 'INSERT' THEN
    IF ${long(newKeys)} AND NOT ${tell} THEN RETURN NULL; END IF;
  ELSIF TG_OP = 'UPDATE' THEN
    IF ${long(`${newKeys} UNION ALL ${oldKeys}`)} AND NOT ${tell} THEN RETURN NULL; END IF;
  ELSIF TG_OP = 'DELETE' THEN
    IF ${long(oldKeys)} AND NOT ${tell} THEN RETURN NULL; END IF;
  END IF;
  -- Strata's own statement that other apps hear of: the trigger of an upsert that changed no row
  -- this way (it fires both) has nothing to log, and skips the subtransaction.
  IF ${tell} THEN
    IF TG_OP = 'INSERT' OR TG_OP = 'UPDATE' THEN
      IF NOT EXISTS (SELECT 1 FROM _strata_new) THEN RETURN NULL; END IF;
    ELSIF TG_OP = 'DELETE' THEN
      IF NOT EXISTS (SELECT 1 FROM _strata_old) THEN RETURN NULL; END IF;
    END IF;
  END IF;
  -- A block of its own, so a failure to log becomes a warning and a gap (markLost) rather than
  -- failing the user's statement. Its cost: a subtransaction per statement that has something to log.
  BEGIN
    -- Never held by Strata's tables for long (a log locked by DDL, LOCK TABLE, VACUUM FULL): a
    -- second at most unless the user's lock_timeout is shorter; then the entry is lost and marked.
    user_lock_timeout := current_setting('lock_timeout');
    IF user_lock_timeout = '0' THEN
      PERFORM set_config('lock_timeout', '${LOG_LOCK_WAIT}', true);
    END IF;
    me := pg_current_xact_id()::xid;
    IF TG_OP = 'TRUNCATE' THEN
      INSERT INTO ${tables.changes} ("schema", "op") VALUES (${identity}, 'truncate');
      entries := 1;
    ELSE
      ${writeModeNow(tables, identity, bump)}
      IF TG_OP = 'INSERT' THEN
        ${logChanged('insert', inserted)}
      ELSIF TG_OP = 'UPDATE' THEN
        ${logChanged('update', updated)}
      ELSE
        ${logChanged('delete', deleted)}
      END IF;
    END IF;
    -- Strata's own keys, for the other apps registered on the table (their relays apply them).
    IF ${tell} AND TG_OP <> 'TRUNCATE' THEN
      writer := substr(current_setting(${quoteLiteral(APP_SETTING)}, true), length(started) + 1);
      IF TG_OP = 'INSERT' THEN
        ${logOwn(tables, identity, 'insert', inserted)}
      ELSIF TG_OP = 'UPDATE' THEN
        ${logOwn(tables, identity, 'update', updated)}
      ELSE
        ${logOwn(tables, identity, 'delete', deleted)}
      END IF;
    END IF;
    IF entries > 0 THEN
      PERFORM pg_notify(${quoteLiteral(CHANGES_CHANNEL)}, ${identity});
    END IF;
    PERFORM set_config('lock_timeout', user_lock_timeout, true);
  EXCEPTION WHEN OTHERS THEN
    -- A deadlock or serialization failure fails the statement as it would without capture (its
    -- transaction is retried). Anything else, a lock wait run out included, commits unlogged, marked.
    IF SQLSTATE LIKE '40%' THEN
      RAISE;
    END IF;
    RAISE WARNING 'strata change capture of % failed (%): %; this statement is not in the change log',
      ${identity}, SQLSTATE, SQLERRM;
    ${markLost(tables, identity)}
  END;
  RETURN NULL;
END;
`;
}

/** What capture installs for `schema`, its Strata tables in `tables`. */
/**
 * What capture installs for `schema`, its Strata tables in `tables`; `apps`, the apps registered on
 * its table, for the body check() expects.
 */
export function capturePlan(
  tables: CaptureTables,
  schema: CompiledSchema,
  apps: readonly string[] = [],
): CapturePlan {
  const config = getTableConfig(schema.table);
  const name = functionName(schema.identity);
  // The mode when no app has claimed the table yet; once one has, the trigger follows its claim.
  const bump = schema.writeMode !== 'write-behind';
  const pk = quoteIdentifier(schema.primaryKey.name);
  const template = functionBody(tables, schema.identity, pk, bump, APPS_TOKEN);
  for (const tag of [QUOTE_TAG, DDL_TAG]) {
    if (template.includes(tag))
      throw new StrataError('INVALID_MODEL', `schema ${schema.identity}: its name contains ${tag}`);
  }
  if (functionBody(tables, schema.identity, pk, bump, '').includes(APPS_TOKEN)) {
    throw new StrataError('INVALID_MODEL', `schema ${schema.identity}: its name contains ${APPS_TOKEN}`);
  }
  return {
    identity: schema.identity,
    target: qualifiedName(config.schema, config.name),
    functionName: name,
    functionTarget: qualifiedName(tables.pgSchema, name),
    body: template.replaceAll(APPS_TOKEN, tellSql(apps)),
    template,
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
 * A plpgsql statement that creates or replaces the function (as its owner, so any role that writes
 * the table is captured; a fixed search path, as every SECURITY DEFINER function needs) with `tell`
 * for the apps registered on the table when it runs (read in the same transaction, after the
 * registry changes it follows). Install and remove both run it: the body depends on the registry alone.
 */
export function replaceFunctionSql(tables: CaptureTables, plan: CapturePlan): string {
  const ddl = `CREATE OR REPLACE FUNCTION ${plan.functionTarget}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS ${QUOTE_TAG}${plan.template}${QUOTE_TAG}`;
  return `EXECUTE replace(${DDL_TAG}${ddl}${DDL_TAG}, ${quoteLiteral(APPS_TOKEN)}, ${tellSqlOfRegistry(tables, plan.identity)});`;
}

/** The function, with the apps registered on the table at the time, and its four triggers. Idempotent. */
export function installStatements(tables: CaptureTables, plan: CapturePlan): string[] {
  return [
    doBlock('strata_capture_install', replaceFunctionSql(tables, plan)),
    ...CAPTURE_EVENTS.map((event) => createTrigger(plan, event)),
  ];
}

/** Strata's triggers on the plan's table, never the table. Idempotent (IF EXISTS). */
export function dropTriggerStatements(plan: CapturePlan): string[] {
  return CAPTURE_EVENTS.map(
    (event) => `DROP TRIGGER IF EXISTS ${quoteIdentifier(triggerName(event))} ON ${plan.target}`,
  );
}
