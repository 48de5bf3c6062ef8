import { sql } from 'drizzle-orm';
import type { WithdrawnWrite } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';
import { rowsOf } from './rows.js';
import { withdrawnName } from './withdrawn-table.js';
import { type WriteContext, withVersionsTable } from './write.js';

/**
 * `L3Tier.withdraw`: one statement recording `writes` of `schema` and deleting the table's
 * withdrawals Postgres' versions have reached (a withdrawal at or below the version Postgres keeps
 * for its key changes nothing: every rule that reads one applies a write only over an older stored
 * version). The table holds withdrawals still above their key's version, and those reached since
 * the schema's last withdrawal (one that a newer write reached first is deleted by the next).
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
  return withVersionsTable(ctx, async () => {
    await ctx.db.execute(sql`with g as (delete from ${w} as d using ${v} where d.schema = ${schema.identity} and ${v.schema} = d.schema and ${v.id} = d.id and ${v.version} >= d.version)
insert into ${w} (schema, id, version) select ${schema.identity}, p.k, p.v from jsonb_to_recordset(${json}::jsonb) as p(k text, v bigint) on conflict do nothing`);
  });
}

/**
 * `L3Tier.withdrawnAmong`: which of `writes` of `schema` `_strata_withdrawn` holds (one statement).
 * Asked only of writes `write` refused: a redelivered dead letter (see `withdrawnAgain` in
 * engine/withdrawn-again.ts) is told from a write refused as older by it.
 */
export async function withdrawnAmong(
  ctx: WriteContext,
  schema: CompiledSchema,
  writes: readonly WithdrawnWrite[],
): Promise<WithdrawnWrite[]> {
  if (writes.length === 0) return [];
  const w = sql.raw(withdrawnName(ctx.versions).name);
  const json = JSON.stringify(writes.map((x) => ({ k: x.id, v: x.version })));
  return withVersionsTable(ctx, async () => {
    const result = await ctx.db.execute(
      sql`select p.k as id, p.v as version from jsonb_to_recordset(${json}::jsonb) as p(k text, v bigint) where exists (select 1 from ${w} as d where d.schema = ${schema.identity} and d.id = p.k and d.version = p.v)`,
    );
    return rowsOf(result).map((r) => ({ id: String(r.id), version: Number(r.version) }));
  });
}
