import { type SQL, sql } from 'drizzle-orm';
import { sqlStateOf } from '../l3/pg-errors.js';
import type { Write, WriteOp } from '../l3/types.js';
import { driverError } from './driver-error.js';
import { valuesSource } from './values.js';
import type { WriteContext } from './write.js';

/*
 * A refused delete (or a set that replaced its row) merges as a delete: the columns no later write
 * set go back to their defaults (merge-refused.ts). During a rolling deploy the older version maps
 * fewer columns than its table has: its delete deleted them too, so a column only the newer version
 * maps must also go back where no later write set it, else it keeps the value of a write before the
 * delete under a later partial set (reliability/test/regression-narrow-delete-merge.test.ts).
 * Those columns are learnt from the catalog (`TableColumns`, as a replace learns them); their
 * default is Postgres' own (`= default`), which an UPDATE can only say as a column's whole value,
 * not inside the merge's per-column CASE: so each goes in a statement of its own after the merge,
 * in its transaction, where the key's version row says the merge set it (its `cols` entry is the
 * write's version). A redelivered merge finds that entry already there and resets it again, to
 * the same default, as a merge sets a column it set before.
 */

const id = (name: string) => sql.identifier(name);
const VT = id('_strata_vt');
const SRC = id('_strata_s');
const T = id('_strata_t');
const VERSION = '_strata_ver';

/**
 * The table columns `op`'s schema does not map that a merge of `first` resets (none for a plain set);
 * one whose default draws from a sequence keeps its value, as a mapped one does (`resetTo`).
 */
export function unmappedResets(ctx: WriteContext, op: WriteOp, first: Write): readonly string[] {
  if (first.row && !first.replace) return [];
  const defaults = ctx.columns.defaults(op.schema);
  return ctx.columns.unmapped(op.schema).filter((name) => !/^nextval\(/i.test(defaults?.[name] ?? ''));
}

/** The tables whose refused deletes or replaces will merge: learnt first (see `TableColumns`). */
export function resettingSchemas(ops: readonly WriteOp[]) {
  return ops
    .filter((op) => op.writes.some((w) => w.version !== undefined && (!w.row || w.replace)))
    .map((op) => op.schema);
}

/** Resets the unmapped column `name` of the merged keys where their version row says the merge set it. */
export function resetUnmapped(ctx: WriteContext, op: WriteOp, writes: readonly Write[], name: string): SQL {
  const { schema } = op;
  const source = valuesSource(
    '_strata_s',
    [schema.primaryKey],
    writes.map((w) => w.row ?? { [schema.primaryKey.key]: w.id }),
    [{ name: VERSION, type: 'bigint', values: writes.map((w) => w.version) }],
  );
  const key = sql`${SRC}."c0"::text`;
  const mark = ctx.markOwnWrites?.(schema.identity, key, SRC, op.app);
  return sql`with ${SRC} as (select * from ${source})${mark ? sql`, ${mark.cte}` : sql``} update ${schema.table} as ${T} set ${id(name)} = default from ${SRC}, ${ctx.versions} as ${VT} where ${T}.${id(schema.primaryKey.name)} = ${SRC}."c0" and ${VT}."schema" = ${schema.identity} and ${VT}."id" = ${key} and not ${VT}."deleted" and (${VT}."cols" ->> ${name}::text)::bigint = ${SRC}.${id(VERSION)}${mark ? sql` and ${mark.marked}` : sql``}`;
}

/** A learnt column another deploy dropped since (undefined_column): the table is learnt again. */
export function unmappedGone(error: unknown): boolean {
  return sqlStateOf(driverError(error)) === '42703';
}
