import { sql } from 'drizzle-orm';
import type { CounterMark } from '../l3/types.js';
import { rowsOf } from './rows.js';
import { besideVersions, type VersionsTable, withSchemaCreated } from './versions-table.js';
import { missingTable, type WriteContext, withTable } from './write.js';

const COUNTERS_TABLE = '_strata_counters';

const countersTable = (versions: VersionsTable) => besideVersions(versions, COUNTERS_TABLE);

/**
 * CREATE SCHEMA / TABLE IF NOT EXISTS for `_strata_counters` (beside `_strata_versions`): per table
 * identity and Redis version counter (its key: the app's namespace and bucket), the highest version
 * that counter is known to have handed out (its seeds, the versions its writes were flushed at).
 * Postgres keeps it when Redis goes back to an older snapshot: a counter found below it went back.
 * Created by the first mark, as `_strata_versions` is by the first write.
 */
export function countersTableStatements(versions: VersionsTable): string[] {
  const { schema, name } = countersTable(versions);
  const create = `CREATE TABLE IF NOT EXISTS ${name} (schema text NOT NULL, counter text NOT NULL, high bigint NOT NULL, PRIMARY KEY (schema, counter))`;
  return withSchemaCreated(schema, [create]);
}

/**
 * `L3Tier.markCounters`: one upsert raising each counter's mark to the version given (never lowering
 * it: versions of a later epoch are greater numbers, so the mark is the greatest version handed out).
 * One row per counter (an upsert may not touch a row twice): the greatest of its marks.
 */
export function markCounters(ctx: WriteContext, marks: readonly CounterMark[]): Promise<void> {
  const highest = new Map<string, CounterMark>();
  for (const mark of marks) {
    const at = `${mark.schema}\u0000${mark.counter}`;
    const held = highest.get(at);
    if (!held || held.version < mark.version) highest.set(at, mark);
  }
  if (highest.size === 0) return Promise.resolve();
  const t = sql.raw(countersTable(ctx.versions).name);
  const rows = sql.join(
    [...highest.values()].map((m) => sql`(${m.schema}, ${m.counter}, ${m.version}::bigint)`),
    sql`, `,
  );
  return withTable(ctx, countersTableStatements, async () => {
    await ctx.db.execute(sql`insert into ${t} as c (schema, counter, high) values ${rows}
on conflict (schema, counter) do update set high = greatest(c.high, excluded.high)`);
  });
}

/**
 * `L3Tier.counterMarks`: the marks of `counters` of the table `schema` (identity), one statement;
 * a counter never marked is left out (all of them while the table does not exist).
 */
export function counterMarks(
  ctx: WriteContext,
  schema: string,
  counters: readonly string[],
): Promise<CounterMark[]> {
  const t = sql.raw(countersTable(ctx.versions).name);
  const names = sql.join(
    counters.map((c) => sql`${c}`),
    sql`, `,
  );
  return (async () => {
    try {
      return rowsOf(
        await ctx.db.execute(
          sql`select counter, high from ${t} where schema = ${schema} and counter in (${names})`,
        ),
      ).map((row) => ({ schema, counter: String(row.counter), version: Number(row.high) }));
    } catch (err) {
      // No table yet: nothing was marked (the first mark creates it; a read does not).
      if (missingTable(err)) return [];
      throw err;
    }
  })();
}
