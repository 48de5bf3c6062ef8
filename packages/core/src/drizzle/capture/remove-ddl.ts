import { quoteLiteral } from '../identifiers.js';
import { unregisterAppStatement } from './capture-apps.js';
import { elsewhereSql } from './capture-place.js';
import type { CaptureTables } from './change-log.js';
import { doBlock } from './do-block.js';
import { type CapturePlan, dropTriggerStatements, replaceFunctionSql } from './trigger-ddl.js';

/**
 * What `remove` runs for one table: one block, decided by what the apps registry holds when it runs
 * (under the DDL lock). With `app`, unregisters it; while another app is still registered on the
 * table, replaces the function with `tell` for the apps left (what an install by them alone writes)
 * and keeps the triggers and the table's registration, so the others' capture goes on (one app's
 * remove never stops another's). Otherwise, and always without `app`, drops the triggers and the
 * function and unregisters the table (the event trigger goes with the last one, see
 * schema-change-trigger.ts): without `app`, capture of the table ends for every app, whose
 * registrations stay (an install by any of them brings it back for all). Never a table or a row;
 * idempotent. A function already gone is not created again.
 *
 * Where the function captures another table too (an install of an earlier version on two tables of
 * one identity, see capture-place.ts), this session's table loses its triggers either way, and the
 * function and the other table's registration stay for the other table.
 */
export function removeTableStatement(tables: CaptureTables, plan: CapturePlan, app?: string): string {
  // DROP TRIGGER IF EXISTS … ON a missing table (or schema) skips with a notice: no need to look first.
  const dropTriggers = dropTriggerStatements(plan).join('; ');
  const here = `pg_catalog.to_regclass(r."target") IS NOT DISTINCT FROM pg_catalog.to_regclass(${quoteLiteral(plan.target)})`;
  const drop = `${dropTriggers};
  IF ${elsewhereSql(plan)} IS NULL THEN
    DROP FUNCTION IF EXISTS ${plan.functionTarget}();
  END IF;
  IF pg_catalog.to_regclass(${quoteLiteral(tables.registry)}) IS NOT NULL THEN
    DELETE FROM ${tables.registry} r WHERE r."schema" = ${quoteLiteral(plan.identity)} AND (${elsewhereSql(plan)} IS NULL OR ${here});
  END IF`;
  // An install from before the apps registry has none to unregister from: no other app is known.
  // The block's first line names the app and the table (the CLI prints first lines).
  const keepForOthers =
    app === undefined
      ? ''
      : `IF pg_catalog.to_regclass(${quoteLiteral(tables.apps)}) IS NOT NULL THEN ${unregisterAppStatement(tables, [plan.identity], app)};
  IF EXISTS (SELECT 1 FROM ${tables.apps} WHERE "schema" = ${quoteLiteral(plan.identity)}) THEN
    IF pg_catalog.to_regprocedure(${quoteLiteral(`${plan.functionTarget}()`)}) IS NOT NULL THEN
      ${replaceFunctionSql(tables, plan)}
    END IF;
    IF ${elsewhereSql(plan)} IS NOT NULL THEN ${dropTriggers}; END IF;
    RETURN;
  END IF;
END IF;
`;
  return doBlock('strata_capture_remove', `${keepForOthers}${drop};`);
}
