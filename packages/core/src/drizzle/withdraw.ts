import { type SQL, sql } from 'drizzle-orm';
import type { WithdrawnWrite } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';
import { withdrawnName } from './withdrawn-table.js';
import { type WriteContext, withVersionsTable } from './write.js';

/**
 * `L3Tier.withdraw`: one statement recording `writes` of `schema`, except those Postgres already
 * holds the key at or past (a withdrawal there changes nothing: every rule that reads one applies a
 * write only over an older stored version), and deleting the table's withdrawals Postgres' versions
 * have reached since: the table holds only withdrawals still above their key's version.
 */
export function recordWithdrawn(
  ctx: WriteContext,
  schema: CompiledSchema,
  writes: readonly WithdrawnWrite[],
): Promise<void> {
  if (writes.length === 0) return Promise.resolve();
  const w = sql.raw(withdrawnName(ctx.versions).name);
  const v = ctx.versions;
  const json = JSON.stringify(writes.map((x) => ({ k: x.id, v: x.version })));
  const reached = (id: SQL, version: SQL) =>
    sql`exists (select 1 from ${v} where ${v.schema} = ${schema.identity} and ${v.id} = ${id} and ${v.version} >= ${version})`;
  return withVersionsTable(ctx, async () => {
    await ctx.db.execute(sql`with "_strata_gone" as (delete from ${w} as "_strata_wd" where "_strata_wd".schema = ${schema.identity} and ${reached(sql`"_strata_wd".id`, sql`"_strata_wd".version`)})
insert into ${w} (schema, id, version) select ${schema.identity}, p.k, p.v from jsonb_to_recordset(${json}::jsonb) as p(k text, v bigint) where not ${reached(sql`p.k`, sql`p.v`)} on conflict do nothing`);
  });
}
