import { StrataError } from '../../errors.js';
import { fnv1a } from '../../hash.js';
import { CHANGES_CHANNEL } from '../../l3/capture.js';
import { qualifiedName, quoteIdentifier, quoteLiteral } from '../identifiers.js';
import { fingerprintSql } from './capture-registry.js';
import type { CaptureTables } from './change-log.js';

/**
 * The event trigger that logs schema changes of captured tables as they commit: on
 * `ddl_command_end` of an `ALTER TABLE` (its subcommands and RENAMEs included), a function in
 * Strata's Postgres schema writes one `ddl` entry per registered table the command touched, moves
 * the table's fingerprint on (so the fingerprint check does not log it again) and NOTIFYs. Event
 * triggers are database-wide and need a superuser (on Neon, neon_superuser): install tries, and
 * without the privilege the fingerprint check alone finds schema changes (see capture-registry.ts).
 */
export interface SchemaChangePlan {
  /** The function, unquoted and qualified. One per Strata schema: it reads that schema's registry. */
  readonly functionName: string;
  readonly functionTarget: string;
  /** The event trigger's name: database-wide, so unique per Strata schema (two apps never share one). */
  readonly triggerName: string;
  /** The function's body as pg_proc.prosrc stores it: what check() compares. */
  readonly body: string;
}

const FUNCTION_NAME = '_strata_schema_changes';
const QUOTE_TAG = '$strata_schema_changes$';
const DO_TAG = '$strata_schema_changes_do$';

function functionBody(tables: CaptureTables): string {
  return `
DECLARE
  hit text[];
BEGIN
  -- The whole body in a block: a failure to log is a WARNING and never fails the user's DDL (the
  -- fingerprint check then finds the change within its interval).
  BEGIN
    SELECT array_agg(DISTINCT r."schema") INTO hit
      FROM pg_event_trigger_ddl_commands() c JOIN ${tables.registry} r ON r."relid" = c.objid
      WHERE c.classid = 'pg_class'::regclass;
    IF hit IS NULL THEN
      RETURN;
    END IF;
    UPDATE ${tables.registry} r SET "fingerprint" = ${fingerprintSql('r."target"')} WHERE r."schema" = ANY (hit);
    INSERT INTO ${tables.changes} ("schema", "op") SELECT s, 'ddl' FROM unnest(hit) s;
    PERFORM pg_notify(${quoteLiteral(CHANGES_CHANNEL)}, s) FROM unnest(hit) s;
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'strata change capture of a schema change failed (%): %; it is not in the change log until the fingerprint check finds it',
      SQLSTATE, SQLERRM;
  END;
END;
`;
}

/** What the event trigger of the Strata schema in `tables` is named and runs. */
export function schemaChangePlan(tables: CaptureTables): SchemaChangePlan {
  const hash = (basis: number) => fnv1a(tables.pgSchema, basis).toString(16).padStart(8, '0');
  const body = functionBody(tables);
  if (body.includes(QUOTE_TAG) || body.includes(DO_TAG)) {
    throw new StrataError(
      'INVALID_CONFIG',
      `Strata schema ${tables.pgSchema}: its name contains ${QUOTE_TAG}`,
    );
  }
  return {
    functionName: FUNCTION_NAME,
    functionTarget: qualifiedName(tables.pgSchema, FUNCTION_NAME),
    triggerName: `${FUNCTION_NAME}_${hash(0x811c9dc5)}${hash(0x01000193)}`,
    body,
  };
}

/**
 * Creates or replaces the function and creates (or enables) the event trigger, in a block that
 * turns `insufficient_privilege` into a NOTICE: without the privilege neither is left behind (the
 * block rolls back), install goes on, and check() reports the fingerprint check as the path.
 * A role that does not own an existing function (a superuser installed it) leaves it as it is.
 */
export function installSchemaChangeStatements(plan: SchemaChangePlan): string[] {
  const trigger = quoteIdentifier(plan.triggerName);
  return [
    `DO ${DO_TAG}
BEGIN
  CREATE OR REPLACE FUNCTION ${plan.functionTarget}() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS ${QUOTE_TAG}${plan.body}${QUOTE_TAG};
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname = ${quoteLiteral(plan.triggerName)}) THEN
    CREATE EVENT TRIGGER ${trigger} ON ddl_command_end WHEN TAG IN ('ALTER TABLE') EXECUTE FUNCTION ${plan.functionTarget}();
  ELSE
    ALTER EVENT TRIGGER ${trigger} ENABLE;
  END IF;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'strata change capture: no event trigger for schema changes (%); the fingerprint check finds them', SQLERRM;
END
${DO_TAG}`,
  ];
}

/**
 * When no registered table is left (each table's remove unregistered its own, see remove-ddl.ts),
 * drops this Strata schema's event trigger and function (by their own names: another Strata
 * schema's are never touched). Without the privilege to drop them (a superuser made them) a
 * WARNING: the trigger then finds no table.
 */
export function removeSchemaChangeStatements(tables: CaptureTables, plan: SchemaChangePlan): string[] {
  return [
    `DO ${DO_TAG}
BEGIN
  IF pg_catalog.to_regclass(${quoteLiteral(tables.registry)}) IS NOT NULL THEN
    IF EXISTS (SELECT 1 FROM ${tables.registry}) THEN
      RETURN;
    END IF;
  END IF;
  BEGIN
    DROP EVENT TRIGGER IF EXISTS ${quoteIdentifier(plan.triggerName)};
    DROP FUNCTION IF EXISTS ${plan.functionTarget}();
  EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'strata change capture: the event trigger % stays (%)', ${quoteLiteral(plan.triggerName)}, SQLERRM;
  END;
END
${DO_TAG}`,
  ];
}
