import { type SQL, sql } from 'drizzle-orm';
import { StrataError } from '../../errors.js';
import { sqlStateOf } from '../../l3/pg-errors.js';
import { driverError } from '../driver-error.js';
import { quoteLiteral } from '../identifiers.js';
import type { CapturePlan } from './trigger-ddl.js';

/**
 * One table per capture function. The function, the change log, the registries and the version
 * rows are named by the schema's identity alone, which for a table the schema leaves unqualified is
 * its bare name: two sessions that resolve `items` in different Postgres schemas (tenants by
 * search_path) with Strata's tables in one `migrationsSchema` would share all of them. Each tenant's
 * relay then applied the other's changes, the last install's write mode decided both tables' trigger
 * (a write-behind tenant's outside write bumped a version its queued write then lost to; a
 * write-through tenant's was logged unbumped and its cached copy kept), schema changes of all but
 * the last installer's table went unseen, and one tenant's remove left its triggers in place
 * (reliability/test/probe-capture-tenants.test.ts). Telling them apart would take a place in every
 * one of those tables and still share the version rows, so the second table is refused instead:
 * install fails with INVALID_CONFIG while the function's triggers are on another table.
 */

/** The marker of the refusal's Postgres error (raise_exception, P0001), for {@link elsewhereError}. */
const MARKER = 'strata capture: another table has this capture function';

/**
 * The other tables (`schema.table`, comma-separated; null when none) whose triggers call the function
 * `fn` (`name()`), "other" meaning not the table `target` names on this session's path (nor a
 * partition's clone of its trigger): SQL, given each as a text expression.
 */
const elsewhere = (fn: string, target: string) =>
  `(SELECT string_agg(DISTINCT format('%I.%I', n.nspname, c.relname), ', ')
  FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE t.tgfoid = pg_catalog.to_regprocedure(${fn}) AND t.tgparentid = 0 AND t.tgrelid IS DISTINCT FROM pg_catalog.to_regclass(${target}))`;

/** {@link elsewhere} for the plan, its names as literals (for DDL, which takes no parameters). */
export function elsewhereSql(plan: CapturePlan): string {
  return elsewhere(quoteLiteral(`${plan.functionTarget}()`), quoteLiteral(plan.target));
}

/** {@link elsewhere} for the plan, its names as parameters (for check()'s query). */
export function elsewhereQuery(plan: CapturePlan): SQL {
  const [head, middle, tail] = elsewhere('\0', '\0').split('\0');
  return sql`${sql.raw(head!)}${`${plan.functionTarget}()`}${sql.raw(middle!)}${plan.target}${sql.raw(tail!)}`;
}

/** A plpgsql statement that raises the refusal when the plan's function captures another table. */
export function refuseElsewhereSql(plan: CapturePlan): string {
  const message = `${MARKER}: ${plan.functionTarget} captures the table of schema ${plan.identity} in another Postgres schema`;
  // The first line names the function (the CLI prints first lines).
  return `-- ${plan.functionName}: on one table only
  IF ${elsewhereSql(plan)} IS NOT NULL THEN
    RAISE EXCEPTION USING MESSAGE = ${quoteLiteral(message)}, DETAIL = ${elsewhereSql(plan)};
  END IF;`;
}

/** The refusal as INVALID_CONFIG (`details.table`: the other table), or undefined for any other error. */
export function elsewhereError(error: unknown): StrataError | undefined {
  const cause = driverError(error) as { message?: unknown; detail?: unknown };
  if (sqlStateOf(cause) !== 'P0001' || !String(cause.message).startsWith(MARKER)) return undefined;
  const table = String(cause.detail);
  return new StrataError(
    'INVALID_CONFIG',
    `change capture: ${String(cause.message).slice(MARKER.length + 2)} (${table}): the two tables share one identity and, with Strata's tables in one migrationsSchema, one change log, capture function and version rows, so neither could follow its own writes alone. Give each its own migrationsSchema, or qualify the tables (pgSchema). Nothing was installed`,
    { cause, details: { table } },
  );
}
