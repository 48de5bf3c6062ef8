import { sql } from 'drizzle-orm';
import type { CaptureDdlMode } from '../../l3/capture.js';
import type { Database } from '../database.js';
import { rowsOf } from '../rows.js';
import { type CaptureTables, REGISTRY_TABLE } from './change-log.js';
import { type SchemaChangePlan, schemaChangePlan } from './schema-change-trigger.js';

/** Per schema: how its schema changes are found, and what of that is missing or outdated. */
export interface SchemaChangeCheck {
  readonly ddl: CaptureDdlMode;
  readonly missing: readonly string[];
}

const bool = (value: unknown) => value === true || value === 't' || value === 'true';

/**
 * How schema changes of each of `identities` are found: `event-trigger` when this Strata schema's
 * event trigger is there, enabled, runs its own function, up to date, and the table is registered;
 * else `fingerprint` (the source's check). A missing registry (or row) is missing for both paths; an
 * outdated function is reported (install replaces it). Two statements, whatever the schema count.
 */
export async function checkSchemaChanges(
  db: Database,
  tables: CaptureTables,
  identities: readonly string[],
): Promise<Map<string, SchemaChangeCheck>> {
  const plan: SchemaChangePlan = schemaChangePlan(tables);
  const [state] = rowsOf(
    await db.execute(
      sql`select to_regclass(${tables.registry}) is not null as "registry", e."evtenabled"::text as "enabled", e."evtfoid" = to_regprocedure(${`${plan.functionTarget}()`}) as "ours", p."prosrc" as "body" from (select 1) one left join pg_event_trigger e on e."evtname" = ${plan.triggerName} left join pg_proc p on p."oid" = e."evtfoid"`,
    ),
  );
  const registered = new Set<string>();
  if (bool(state?.registry)) {
    const rows = rowsOf(
      await db.execute(
        sql`select "schema" from ${sql.raw(tables.registry)} where "schema" in (${sql.join(
          identities.map((identity) => sql`${identity}`),
          sql`, `,
        )})`,
      ),
    );
    for (const row of rows) registered.add(String(row.schema));
  }
  const present = state?.enabled !== null && state?.enabled !== undefined;
  const ours = present && bool(state?.ours);
  const outdated = ours && state?.body !== plan.body;
  const live = ours && !outdated && state?.enabled !== 'D';
  const out = new Map<string, SchemaChangeCheck>();
  for (const identity of identities) {
    const missing: string[] = [];
    if (!bool(state?.registry)) missing.push(`table ${REGISTRY_TABLE}`);
    else if (!registered.has(identity)) missing.push(`row in ${REGISTRY_TABLE}`);
    if (outdated) missing.push(`function ${plan.functionName} (outdated)`);
    out.set(identity, { ddl: live && registered.has(identity) ? 'event-trigger' : 'fingerprint', missing });
  }
  return out;
}
