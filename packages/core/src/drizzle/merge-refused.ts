import { is, SQL, sql } from 'drizzle-orm';
import { sqlStateOf } from '../l3/pg-errors.js';
import type { Write, WriteOp, WriteOutcome } from '../l3/types.js';
import type { CompiledColumn, CompiledSchema } from '../schema/types.js';
import { driverError } from './driver-error.js';
import { resettingSchemas, resetUnmapped, unmappedGone, unmappedResets } from './merge-unmapped.js';
import { decodeRawRow } from './recordset.js';
import { rowsOf } from './rows.js';
import { columnsMoved, defaultsMoved, moved } from './table-columns.js';
import { cannotBeSet } from './upsert.js';
import { valuesSource } from './values.js';
import { withdrawnAt } from './withdrawn-table.js';
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

/**
 * The columns a merge may set from `row` (a delete's, without one: every column): given, settable,
 * neither the key nor insert-only.
 */
function mergeable(schema: CompiledSchema, row: Record<string, unknown> | undefined) {
  const insertOnly = new Set(schema.insertOnlyKeys);
  return schema.columns.filter(
    (c) =>
      c !== schema.primaryKey &&
      !cannotBeSet(c.column) &&
      !insertOnly.has(c.key) &&
      (row === undefined || row[c.key] !== undefined),
  );
}

/** By SQL name, the defaults Postgres gives a new row (see `TableColumns.defaults`); undefined: not learnt. */
type Defaults = Readonly<Record<string, string | null>> | undefined;

const hasDefaultFn = (column: CompiledColumn) =>
  (column.column as unknown as { defaultFn?: unknown }).defaultFn !== undefined;

/**
 * What a refused delete sets a column to where no later write set it: what the insert of a later
 * partial set over the deleted row would have stored. A `$defaultFn` is called (Strata's insert
 * fills it in, as Drizzle's does); any other column takes its default in Postgres (`learnt`), the
 * one Drizzle's `.default()` declared or one only the database has (another deploy's migration,
 * plain SQL), evaluated in the merge's statement as an insert evaluates it. Null (no default): the
 * column has none. Undefined: it keeps its value, where its default draws from a sequence (serial,
 * `nextval`: it would renumber the row, as an identity column would). Not learnt (the table
 * missing): Drizzle's `.default()`. A thunk: `resettable` asks without calling a `$defaultFn`.
 */
function resetTo(column: CompiledColumn, learnt: Defaults): (() => SQL) | null | undefined {
  // Not column-ddl.ts's defaultClause: DDL code stays out of a Worker bundle.
  const c = column.column as CompiledColumn['column'] & { defaultFn?: () => unknown };
  if (c.defaultFn) {
    const fn = c.defaultFn;
    return () => literal(c, fn());
  }
  if (!learnt) return c.default === undefined || c.default === null ? null : () => literal(c, c.default);
  const expression = learnt[column.name] ?? null;
  if (expression === null) return null;
  return /^nextval\(/i.test(expression) ? undefined : () => sql`(${sql.raw(expression)})`;
}

function literal(c: CompiledColumn['column'], value: unknown): SQL {
  if (value === undefined || value === null) return sql`null`;
  if (is(value, SQL)) return sql`(${value})`;
  return sql`${c.mapToDriverValue(value)}`;
}

/**
 * The columns a refused delete resets (see `resetTo`): the mergeable ones, but for one whose default
 * draws from a sequence, and a not-null one with no default, which a later partial set leaving it
 * out could only have kept (over a deleted row, its insert would have failed): it keeps its value.
 */
function resettable(schema: CompiledSchema, learnt: Defaults): CompiledColumn[] {
  return mergeable(schema, undefined).filter((c) => {
    const to = resetTo(c, learnt);
    return to !== undefined && (to !== null || !c.column.notNull);
  });
}

/**
 * The merge of refused writes of one shape, one statement: their version rows' `cols` first, then
 * their rows. A set sets the columns it sent; a delete, or a set that replaced its row (`replace`),
 * also resets the others to their defaults (see `resetTo`): where no later write set them. The
 * table's columns the schema does not map (`unmapped`) are recorded in `cols` as the others; their
 * reset is a statement of its own (merge-unmapped.ts).
 */
function mergeStatement(
  ctx: WriteContext,
  op: WriteOp,
  writes: readonly Write[],
  unmapped: readonly string[],
): SQL {
  const { schema } = op;
  const first = writes[0]!;
  const sent = first.row ? mergeable(schema, first.row) : [];
  const learnt = ctx.columns.defaults(schema);
  // A delete, or a set that replaced its row (a delete and a set): the columns it did not send too.
  const resetting = !first.row || first.replace === true;
  const reset = resetting ? resettable(schema, learnt).filter((c) => !sent.includes(c)) : [];
  const columns = [...sent, ...reset];
  // The defaults it resets to must be the table's still (else learnt again: see `mergeShape`).
  const candidates = resetting && learnt ? mergeable(schema, undefined).filter((c) => !sent.includes(c)) : [];
  const checked = Object.fromEntries(
    candidates.filter((c) => !hasDefaultFn(c)).map((c) => [c.name, learnt?.[c.name] ?? null]),
  );
  const guard = Object.keys(checked).length > 0 ? sql` and ${defaultsMoved(schema, checked)}` : sql``;
  // ...and its columns all learnt: one another deploy added since (ALTER ADD COLUMN) must be reset
  // too where no later write set it (else learnt again, as a replace is: see `moved`). On the source,
  // which every merged key is read from: checked even where no learnt column is to be merged.
  const known =
    resetting && learnt ? [...schema.columns.map((c) => c.name), ...ctx.columns.unmapped(schema)] : [];
  const added = known.length > 0 ? sql` where ${moved(schema, known)}` : sql``;
  const source = valuesSource(
    '_strata_s',
    [schema.primaryKey, ...sent],
    writes.map((w) => w.row ?? { [schema.primaryKey.key]: w.id }),
    [{ name: VERSION, type: 'bigint', values: writes.map((w) => w.version) }],
  );
  const ver = sql`${SRC}.${id(VERSION)}`;
  const key = sql`${SRC}."c0"::text`;
  const named = [...columns.map((c) => c.name), ...unmapped];
  const names = sql`jsonb_array_elements_text(${JSON.stringify(named)}::jsonb) as ${K}`;
  // The version that last set column `_strata_k` (see `VersionsTable`'s `cols`).
  const older = sql`coalesce((${VT}."cols" ->> ${K})::bigint, (${VT}."cols" ->> '')::bigint, ${VT}."version") < ${ver}`;
  const versions = sql`update ${ctx.versions} as ${VT} set "cols" = coalesce(${VT}."cols", jsonb_build_object('', ${VT}."version")) || (select jsonb_object_agg(${K}, ${ver}) from ${names} where ${older}) from ${SRC} where ${VT}."schema" = ${schema.identity} and ${VT}."id" = ${key} and ${VT}."version" > ${ver} and not ${VT}."deleted" and not ${withdrawnAt(ctx.versions, schema.identity, key, ver)} and exists (select 1 from ${names} where ${older}) returning ${VT}."id", ${VT}."cols", ${VT}."version"`;
  // A column takes the write's value where its version row now says the write set it (a column this
  // write set before, redelivered, is set to the same value again: nothing else wrote it since).
  const set = columns.map(
    (c, i) =>
      sql`${id(c.name)} = case when (${V}."cols" ->> ${c.name}::text)::bigint = ${ver} then ${i < sent.length ? sql`${SRC}.${id(`c${i + 1}`)}` : (resetTo(c, learnt) ?? (() => sql`null`))()} else ${T}.${id(c.name)} end`,
  );
  const mark = ctx.markOwnWrites?.(schema.identity, key, SRC, op.app);
  return sql`with ${SRC} as (select * from ${source}${added}), ${V} as (${versions})${mark ? sql`, ${mark.cte}` : sql``} update ${schema.table} as ${T} set ${sql.join(set, sql`, `)} from ${V} join ${SRC} on ${V}."id" = ${key} where ${T}.${id(schema.primaryKey.name)} = ${SRC}."c0"${mark ? sql` and ${mark.marked}` : sql``}${guard} returning ${T}.*, ${V}."version" as ${id(VERSION)}`;
}

/**
 * Runs the merge of `at` (writes of `op` of one shape) and fills their outcomes. A constraint that
 * refuses it (a reset to a unique column's default another row holds; a value another row took
 * since) must fail neither the others merged with it nor the flush (retried, it would fail again
 * until lost): each write goes alone, and one still refused is left unmerged (its columns keep their
 * values), its outcome saying why (`refusedBy`).
 */
async function mergeShape(
  ctx: WriteContext,
  op: WriteOp,
  at: readonly number[],
  outcomes: WriteOutcome[],
  again = true,
) {
  const pk = op.schema.primaryKey;
  const keyOf = (id: unknown) => keyText(id, pk.column.getSQLType());
  const writes = at.map((i) => op.writes[i]!);
  let raws: Record<string, unknown>[];
  try {
    raws = await mergeRows(ctx, op, writes);
  } catch (error) {
    if (again && columnsMoved(error)) {
      // Another deploy changed a default it resets to since it was learnt: learn the table again, once.
      ctx.columns.forget([op.schema]);
      await ctx.columns.learn(ctx.db, [op.schema]);
      return mergeShape(ctx, op, at, outcomes, false);
    }
    const cause = driverError(error);
    // Class 23: integrity constraints (unique, not-null, check, foreign key, exclusion).
    if (!sqlStateOf(cause)?.startsWith('23')) throw error;
    if (at.length > 1) for (const i of at) await mergeShape(ctx, op, [i], outcomes, again);
    else outcomes[at[0]!]!.refusedBy = cause;
    return;
  }
  const byKey = new Map(writes.map((w, j) => [keyOf(w.row?.[pk.key] ?? w.id), at[j]!]));
  for (const raw of raws) {
    const row = decodeRawRow(op.schema, raw);
    const i = byKey.get(keyOf(row[pk.key]));
    if (i !== undefined) outcomes[i] = { applied: true, version: Number(raw[VERSION]), row };
  }
}

/**
 * Runs the merge of `writes` (one shape), with the resets of the table's columns the schema does not
 * map after it, in one transaction; a learnt column dropped since: the table is learnt again, once.
 */
async function mergeRows(
  ctx: WriteContext,
  op: WriteOp,
  writes: readonly Write[],
): Promise<Record<string, unknown>[]> {
  for (let again = true; ; again = false) {
    const unmapped = unmappedResets(ctx, op, writes[0]!);
    const merge = mergeStatement(ctx, op, writes, unmapped);
    if (unmapped.length === 0) return rowsOf(await ctx.db.execute(merge));
    try {
      const [merged] = await ctx.transactions.all((db) => [
        db.execute(merge),
        ...unmapped.map((name) => db.execute(resetUnmapped(ctx, op, writes, name))),
      ]);
      return rowsOf(merged);
    } catch (error) {
      if (!again || !unmappedGone(error)) throw error;
      ctx.columns.forget([op.schema]);
      await ctx.columns.learn(ctx.db, [op.schema]);
    }
  }
}

/**
 * `L3Tier.mergeRefused`: each set of `ops` (Redis-ordered, refused by `write` as older) applies the
 * columns no write of a higher version set since, one statement per shape (the columns it sets).
 * Resolves, per op and write, applied with the row as stored and the key's (unchanged) version
 * where a column was set; else not applied (`refusedBy`: the constraint error that refused it).
 */
export function mergeRefused(ctx: WriteContext, ops: readonly WriteOp[]): Promise<WriteOutcome[][]> {
  return withVersionsTable(ctx, async () => {
    const outcomes = ops.map((op) =>
      op.writes.map((w): WriteOutcome => ({ applied: false, version: w.version ?? 0 })),
    );
    // A delete or a replace resets a column to its table's default in Postgres (see `resetTo`), and
    // the columns its schema does not map too: the table is learnt first.
    await ctx.columns.learn(ctx.db, resettingSchemas(ops));
    for (const [o, op] of ops.entries()) {
      const learnt = ctx.columns.defaults(op.schema);
      // Per shape (the columns sent; a delete or a replacing set resets the others), the writes' indexes.
      const shapes = new Map<string, number[]>();
      op.writes.forEach((w, i) => {
        const sent = w.row ? mergeable(op.schema, w.row).map((c) => c.key) : [];
        const resets = !w.row || w.replace === true;
        if (
          w.version === undefined ||
          (sent.length === 0 && (!resets || resettable(op.schema, learnt).length === 0))
        )
          return;
        const shape = JSON.stringify([resets, sent]);
        shapes.set(shape, [...(shapes.get(shape) ?? []), i]);
      });
      for (const at of shapes.values()) await mergeShape(ctx, op, at, outcomes[o]!);
    }
    return outcomes;
  });
}
