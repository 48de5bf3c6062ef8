import { type SQL, sql } from 'drizzle-orm';
import type { Write, WriteOp, WriteOutcome } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';
import { decodeRawRow } from './recordset.js';
import { rowsOf } from './rows.js';
import { cannotBeSet } from './upsert.js';
import { valuesSource } from './values.js';
import { type WriteContext, withVersionsTable } from './write.js';
import { keyText } from './write-plan.js';

/*
 * A Redis-ordered set refused at its flush because the key holds a newer version is, in serial
 * order, followed by the writes that outran it: of its columns, those no later write set still hold
 * what it set. Within one app the later write carries it (it merged over the queued write's columns),
 * but a write of a later epoch cannot (another app took the table over, or this app's Redis lost
 * the counter with the pending index): it merged over Postgres' older row, and the refused write's
 * other columns were lost (reliability/test/probe-hostile-6.test.ts). `_strata_versions.cols` says
 * which version last set each column, so the refused write applies exactly the columns it set that
 * were last set before its version, and records them at its version. The key's version is left as it
 * is (the newest write's): no cache ordering moves; the caller drops the copies of the old row.
 */

const id = (name: string) => sql.identifier(name);
const VT = id('_strata_vt');
const SRC = id('_strata_s');
const V = id('_strata_v');
const T = id('_strata_t');
const K = id('_strata_k');
const VERSION = '_strata_ver';

/** The columns a merge may set from `row`: given, settable, neither the key nor insert-only. */
function mergeable(schema: CompiledSchema, row: Record<string, unknown>) {
  const insertOnly = new Set(schema.insertOnlyKeys);
  return schema.columns.filter(
    (c) =>
      c !== schema.primaryKey && !cannotBeSet(c.column) && !insertOnly.has(c.key) && row[c.key] !== undefined,
  );
}

/** The merge of refused sets of one shape, one statement: their version rows' `cols` first, then their rows. */
function mergeStatement(ctx: WriteContext, op: WriteOp, writes: readonly Write[]): SQL {
  const { schema } = op;
  const columns = mergeable(schema, writes[0]!.row!);
  const source = valuesSource(
    '_strata_s',
    [schema.primaryKey, ...columns],
    writes.map((w) => w.row!),
    [{ name: VERSION, type: 'bigint', values: writes.map((w) => w.version) }],
  );
  const ver = sql`${SRC}.${id(VERSION)}`;
  const key = sql`${SRC}."c0"::text`;
  const names = sql`jsonb_array_elements_text(${JSON.stringify(columns.map((c) => c.name))}::jsonb) as ${K}`;
  // The version that last set column `_strata_k` (see `VersionsTable`'s `cols`).
  const older = sql`coalesce((${VT}."cols" ->> ${K})::bigint, (${VT}."cols" ->> '')::bigint, ${VT}."version") < ${ver}`;
  const versions = sql`update ${ctx.versions} as ${VT} set "cols" = coalesce(${VT}."cols", jsonb_build_object('', ${VT}."version")) || (select jsonb_object_agg(${K}, ${ver}) from ${names} where ${older}) from ${SRC} where ${VT}."schema" = ${schema.identity} and ${VT}."id" = ${key} and ${VT}."version" > ${ver} and not ${VT}."deleted" and exists (select 1 from ${names} where ${older}) returning ${VT}."id", ${VT}."cols", ${VT}."version"`;
  // A column takes the write's value where its version row now says the write set it (a column this
  // write set before, redelivered, is set to the same value again: nothing else wrote it since).
  const set = columns.map(
    (c, i) =>
      sql`${id(c.name)} = case when (${V}."cols" ->> ${c.name}::text)::bigint = ${ver} then ${SRC}.${id(`c${i + 1}`)} else ${T}.${id(c.name)} end`,
  );
  const mark = ctx.markOwnWrites?.(schema.identity, key, SRC, op.app);
  return sql`with ${SRC} as (select * from ${source}), ${V} as (${versions})${mark ? sql`, ${mark.cte}` : sql``} update ${schema.table} as ${T} set ${sql.join(set, sql`, `)} from ${V} join ${SRC} on ${V}."id" = ${key} where ${T}.${id(schema.primaryKey.name)} = ${SRC}."c0"${mark ? sql` and ${mark.marked}` : sql``} returning ${T}.*, ${V}."version" as ${id(VERSION)}`;
}

/**
 * `L3Tier.mergeRefused`: each set of `ops` (Redis-ordered, refused by `write` as older) applies the
 * columns no write of a higher version set since, one statement per shape (the columns it sets).
 * Resolves, per op and write, applied with the row as stored and the key's (unchanged) version
 * where a column was set; else not applied.
 */
export function mergeRefused(ctx: WriteContext, ops: readonly WriteOp[]): Promise<WriteOutcome[][]> {
  return withVersionsTable(ctx, async () => {
    const outcomes = ops.map((op) =>
      op.writes.map((w): WriteOutcome => ({ applied: false, version: w.version ?? 0 })),
    );
    for (const [o, op] of ops.entries()) {
      const pk = op.schema.primaryKey;
      const shapes = new Map<string, number[]>();
      op.writes.forEach((w, i) => {
        const columns = w.row && w.version !== undefined ? mergeable(op.schema, w.row) : [];
        if (columns.length === 0) return;
        const shape = columns.map((c) => c.key).join();
        shapes.set(shape, [...(shapes.get(shape) ?? []), i]);
      });
      for (const at of shapes.values()) {
        const writes = at.map((i) => op.writes[i]!);
        const byKey = new Map(
          at.map((i) => [keyText(op.writes[i]!.row![pk.key], pk.column.getSQLType()), i]),
        );
        for (const raw of rowsOf(await ctx.db.execute(mergeStatement(ctx, op, writes)))) {
          const row = decodeRawRow(op.schema, raw);
          const i = byKey.get(keyText(row[pk.key], pk.column.getSQLType()));
          if (i !== undefined) outcomes[o]![i] = { applied: true, version: Number(raw[VERSION]), row };
        }
      }
    }
    return outcomes;
  });
}
