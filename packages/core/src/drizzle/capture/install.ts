import { sql } from 'drizzle-orm';
import type { CaptureCheck } from '../../l3/capture.js';
import type { CompiledSchema } from '../../schema/types.js';
import type { Database } from '../database.js';
import { ddlLock } from '../ddl-lock.js';
import { rowsOf } from '../rows.js';
import type { Transactions } from '../transactions.js';
import { type VersionsTable, versionsColumnsStatements, versionsTableStatements } from '../versions-table.js';
import { appsStatements, registerAppStatement } from './capture-apps.js';
import { elsewhereError, elsewhereQuery, refuseElsewhereSql } from './capture-place.js';
import { registerStatement, registryStatements } from './capture-registry.js';
import {
  APPS_TABLE,
  type CaptureTables,
  CHANGES_TABLE,
  changeLogStatements,
  META_TABLE,
} from './change-log.js';
import { doBlock } from './do-block.js';
import { removeTableStatement } from './remove-ddl.js';
import { checkSchemaChanges } from './schema-change-check.js';
import {
  installSchemaChangeStatements,
  removeSchemaChangeStatements,
  schemaChangePlan,
} from './schema-change-trigger.js';
import { type CapturePlan, capturePlan, installStatements } from './trigger-ddl.js';

/** What capture's DDL runs on. */
export interface CaptureDdlContext {
  readonly db: Database;
  readonly transactions: Transactions;
  readonly versions: VersionsTable;
  readonly tables: () => Promise<CaptureTables>;
}

/** Schemas with an L3 table: the others have nothing to capture. */
const stored = (schemas: readonly CompiledSchema[]) => schemas.filter((schema) => schema.l3 !== false);

/** Runs statements atomically under the DDL lock (one transaction, or one batch on neon-http). */
async function underDdlLock(ctx: CaptureDdlContext, statements: readonly string[]): Promise<void> {
  await ctx.transactions.all((db) => [ddlLock(db), ...statements.map((s) => db.execute(sql.raw(s)))]);
}

/**
 * The change log, `_strata_versions`, the registries of captured tables and of apps (with `app`
 * registered on the schemas' tables first), each schema's function (with the apps registered on its
 * table) and triggers, replaced where they exist, and the event trigger for schema changes where the
 * role may create one: running it twice leaves the same state. Resolves the statements run.
 * INVALID_CONFIG, and nothing installed, when a schema's function already captures another table
 * (an unqualified table resolved in another Postgres schema: see capture-place.ts).
 */
export async function installCapture(
  ctx: CaptureDdlContext,
  schemas: readonly CompiledSchema[],
  app?: string,
): Promise<string[]> {
  const captured = stored(schemas);
  if (captured.length === 0) return [];
  const tables = await ctx.tables();
  const identities = captured.map((schema) => schema.identity);
  const plans = captured.map((schema) => capturePlan(tables, schema));
  const statements = [
    // First, under the lock: a refusal runs nothing else.
    ...plans.map((plan) => doBlock('strata_capture_place', refuseElsewhereSql(plan))),
    ...new Set([
      ...changeLogStatements(tables),
      ...registryStatements(tables),
      ...appsStatements(tables),
      ...versionsTableStatements(ctx.versions),
      ...versionsColumnsStatements(ctx.versions),
    ]),
    ...(app === undefined ? [] : [registerAppStatement(tables, identities, app)]),
    ...plans.flatMap((plan) => [...installStatements(tables, plan), registerStatement(tables, plan)]),
    ...installSchemaChangeStatements(schemaChangePlan(tables)),
  ];
  await underDdlLock(ctx, statements).catch((error: unknown) => {
    throw elsewhereError(error) ?? error;
  });
  return statements;
}

/**
 * Unregisters `app` from the schemas' tables and ends its capture of them: a table another app is
 * still registered on keeps its triggers, with its function replaced for the apps left; the others
 * lose their triggers and functions (without `app`, every table does: see remove-ddl.ts), and with
 * no captured table left in this Strata schema, its event trigger goes too (tables and the log stay).
 * Resolves the statements run.
 */
export async function removeCapture(
  ctx: CaptureDdlContext,
  schemas: readonly CompiledSchema[],
  app?: string,
): Promise<string[]> {
  const captured = stored(schemas);
  if (captured.length === 0) return [];
  const tables = await ctx.tables();
  const statements = [
    ...captured.map((schema) => removeTableStatement(tables, capturePlan(tables, schema), app)),
    ...removeSchemaChangeStatements(tables, schemaChangePlan(tables)),
  ];
  await underDdlLock(ctx, statements);
  return statements;
}

const bool = (value: unknown) => value === true || value === 't' || value === 'true';

type RowTriggerCheck = Omit<CaptureCheck, 'ddl'>;

async function checkOne(
  db: Database,
  tables: CaptureTables,
  plan: CapturePlan,
  apps: Registered,
  app: string | undefined,
): Promise<RowTriggerCheck> {
  const names = plan.triggers.map((t) => t.name);
  const [row] = rowsOf(
    await db.execute(
      sql`select to_regclass(${plan.target}) is not null as "table", to_regclass(${tables.changes}) is not null as "log", to_regclass(${tables.meta}) is not null as "meta", (select p.prosrc from pg_proc p where p.oid = to_regprocedure(${`${plan.functionTarget}()`})) as "body", (select string_agg(t.tgname::text || ':' || t.tgenabled::text, ',') from pg_trigger t where t.tgrelid = to_regclass(${plan.target}) and t.tgname::text in (${sql.join(
        names.map((n) => sql`${n}`),
        sql`, `,
      )})) as "triggers", ${elsewhereQuery(plan)} as "elsewhere"`,
    ),
  );
  const missing: string[] = [];
  if (!bool(row?.table)) missing.push(`table ${plan.target}`);
  if (!bool(row?.log)) missing.push(`table ${CHANGES_TABLE}`);
  if (!bool(row?.meta)) missing.push(`table ${META_TABLE}`);
  if (apps === undefined) missing.push(`table ${APPS_TABLE}`);
  else if (app !== undefined && !(apps.get(plan.identity) ?? []).includes(app))
    missing.push(`app ${app} in ${APPS_TABLE}`);
  const body = row?.body;
  if (body === null || body === undefined) missing.push(`function ${plan.functionName}`);
  else if (body !== plan.body) missing.push(`function ${plan.functionName} (outdated)`);
  // An install of an earlier version on two tables of one identity (see capture-place.ts).
  if (row?.elsewhere != null) missing.push(`function ${plan.functionName} captures ${row.elsewhere} too`);
  const found = new Map(
    String(row?.triggers ?? '')
      .split(',')
      .filter((entry) => entry !== '')
      .map((entry) => [entry.slice(0, entry.lastIndexOf(':')), entry.slice(entry.lastIndexOf(':') + 1)]),
  );
  for (const name of names) {
    const enabled = found.get(name);
    if (enabled === undefined) missing.push(`trigger ${name}`);
    else if (enabled === 'D') missing.push(`trigger ${name} (disabled)`);
  }
  return { schema: plan.identity, installed: missing.length === 0, missing };
}

/** Per schema identity, the apps registered on its table; undefined: no apps registry yet. */
type Registered = Map<string, string[]> | undefined;

async function registeredApps(
  db: Database,
  tables: CaptureTables,
  identities: readonly string[],
): Promise<Registered> {
  const [state] = rowsOf(await db.execute(sql`select to_regclass(${tables.apps}) is not null as "apps"`));
  if (!bool(state?.apps)) return undefined;
  const rows = rowsOf(
    await db.execute(
      sql`select "schema", "app" from ${sql.raw(tables.apps)} where "schema" in (${sql.join(
        identities.map((identity) => sql`${identity}`),
        sql`, `,
      )})`,
    ),
  );
  const apps = new Map<string, string[]>();
  for (const row of rows) {
    const schema = String(row.schema);
    const list = apps.get(schema) ?? [];
    list.push(String(row.app));
    apps.set(schema, list);
  }
  return apps;
}

/**
 * Per schema, what of its capture is missing, disabled or out of date (with `app`, its registration
 * on the table too), and how its schema changes are found. One statement per schema, two for the
 * apps registry and two for schema changes.
 */
export async function checkCapture(
  ctx: CaptureDdlContext,
  schemas: readonly CompiledSchema[],
  app?: string,
): Promise<CaptureCheck[]> {
  const captured = stored(schemas);
  if (captured.length === 0) return [];
  const tables = await ctx.tables();
  const apps = await registeredApps(
    ctx.db,
    tables,
    captured.map((schema) => schema.identity),
  );
  const [rows, ddl] = await Promise.all([
    Promise.all(
      captured.map((schema) =>
        checkOne(ctx.db, tables, capturePlan(tables, schema, apps?.get(schema.identity)), apps, app),
      ),
    ),
    checkSchemaChanges(
      ctx.db,
      tables,
      captured.map((schema) => schema.identity),
    ),
  ]);
  return rows.map((row) => {
    const schemaChanges = ddl.get(row.schema)!;
    const missing = [...row.missing, ...schemaChanges.missing];
    return { schema: row.schema, installed: missing.length === 0, missing, ddl: schemaChanges.ddl };
  });
}
