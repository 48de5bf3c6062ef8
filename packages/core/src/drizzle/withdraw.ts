import { type SQL, sql } from 'drizzle-orm';
import type { WithdrawalFound, WithdrawnWrite } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';
import { rowsOf } from './rows.js';
import { withdrawnName } from './withdrawn-table.js';
import { bool, type WriteContext, withVersionsTable } from './write.js';

/** How many withdrawals each side of a dead letter's key its statement looks at (see `recordWithdrawn`). */
const SWEEP = 32;

/**
 * `L3Tier.withdraw`: one statement recording `writes` of `schema` and deleting withdrawals of the
 * schema Postgres' versions have reached whose dead letter is known sent (`sent`, see
 * `markWithdrawalsSent`). Reached: at or below the version Postgres keeps for its key, it refuses
 * nothing an older write would not be refused for. Sent: until then its message may be delivered
 * again (the send failed), and refused as older without it, that delivery was acked: its dead letter
 * in no store (regression-withdrawal-swept-unsent.test.ts). Bounded: it looks only at the `SWEEP`
 * withdrawals either side of the first write's key (two index range scans, a primary-key probe of
 * `_strata_versions` each, deleted by ctid). Sweeping the whole schema's scanned its every withdrawal
 * and version row: 92 ms per dead letter with 10,000 withdrawals over 50,000 version rows of the
 * table, 0.5 ms so. A reached withdrawal outside every later window stays (harmless: nothing it
 * refuses would apply).
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
  const at = writes[0]!.id;
  const near = (side: SQL, order: SQL) =>
    sql`(select d.ctid as t, d.id, d.version, d.sent from ${w} as d where d.schema = ${schema.identity} and d.id ${side} ${at} order by d.id ${order} limit ${SWEEP})`;
  return withVersionsTable(ctx, async () => {
    await ctx.db.execute(sql`with c as (${near(sql`>=`, sql`asc`)} union all ${near(sql`<`, sql`desc`)}),
g as (delete from ${w} as d where d.ctid = any (array(select c.t from c join ${v} on ${v.schema} = ${schema.identity} and ${v.id} = c.id where c.sent and ${v.version} >= c.version)))
insert into ${w} (schema, id, version) select ${schema.identity}, p.k, p.v from jsonb_to_recordset(${json}::jsonb) as p(k text, v bigint) on conflict do nothing`);
  });
}

/**
 * `L3Tier.withdrawnAmong`: which of `writes` of `schema` `_strata_withdrawn` holds, and whether each
 * one's dead letter is known sent (one statement). Asked only of writes `write` refused: a
 * redelivered dead letter (see `withdrawnAgain` in engine/withdrawn-again.ts) is told from a write
 * refused as older by it, and a copy queued again after a Redis reset by `sent`.
 */
export async function withdrawnAmong(
  ctx: WriteContext,
  schema: CompiledSchema,
  writes: readonly WithdrawnWrite[],
): Promise<WithdrawalFound[]> {
  if (writes.length === 0) return [];
  const w = sql.raw(withdrawnName(ctx.versions).name);
  const json = JSON.stringify(writes.map((x) => ({ k: x.id, v: x.version })));
  return withVersionsTable(ctx, async () => {
    const result = await ctx.db.execute(
      sql`select p.k as id, p.v as version, d.sent from jsonb_to_recordset(${json}::jsonb) as p(k text, v bigint) join ${w} as d on d.schema = ${schema.identity} and d.id = p.k and d.version = p.v`,
    );
    return rowsOf(result).map((r) => ({ id: String(r.id), version: Number(r.version), sent: bool(r.sent) }));
  });
}

/**
 * `L3Tier.withdrawalsSent`: marks these withdrawals of `schema` as having their dead letter sent
 * (one statement): from then on a cleanup may remove them once Postgres' versions reach them (see
 * `recordWithdrawn`). Unsent, a withdrawal is kept, whatever reached it.
 */
export async function markWithdrawalsSent(
  ctx: WriteContext,
  schema: CompiledSchema,
  writes: readonly WithdrawnWrite[],
): Promise<void> {
  if (writes.length === 0) return;
  const w = sql.raw(withdrawnName(ctx.versions).name);
  const json = JSON.stringify(writes.map((x) => ({ k: x.id, v: x.version })));
  await withVersionsTable(ctx, async () => {
    await ctx.db.execute(
      sql`update ${w} as d set sent = true from jsonb_to_recordset(${json}::jsonb) as p(k text, v bigint) where d.schema = ${schema.identity} and d.id = p.k and d.version = p.v and not d.sent`,
    );
  });
}
