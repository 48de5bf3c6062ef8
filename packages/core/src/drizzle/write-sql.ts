import { SQL, type SQLChunk, type SQLWrapper, StringChunk, sql } from 'drizzle-orm';
import { EPOCH_SPAN } from '../l3/epoch-span.js';
import type { CompiledSchema } from '../schema/types.js';
import type { OwnWritesMark } from './capture/own-writes.js';
import type { Database } from './database.js';
import { recordsetSource } from './recordset.js';
import { beyond, moved } from './table-columns.js';
import type { Statement } from './transactions.js';
import { cannotBeSet, conflictSet } from './upsert.js';
import { valuesSource } from './values.js';
import type { VersionsTable } from './versions-table.js';
import { withdrawnAt } from './withdrawn-table.js';
import type { PlannedWrite, WriteGroup } from './write-plan.js';

// Names of the statements' own scope: `_strata_` is reserved, so they never meet a user's names.
const id = (name: string) => sql.identifier(name);
const SRC = id('_strata_s');
const V = id('_strata_v');
const W = id('_strata_w');
const D = id('_strata_d');
const T = id('_strata_t');
const VT = id('_strata_vt');
export const KEY = '_strata_key';
export const VERSION = '_strata_version';
export const EXISTED = '_strata_existed';
export const DELETED_PK = '_strata_pk';
const SOURCE_VERSION = '_strata_ver';
const SOURCE_SINCE = '_strata_since';
const SOURCE_FLOOR = '_strata_floor';
const SOURCE_COLS = '_strata_cols';
/** In the error a write raises when a later epoch was started than its op's (see `epochGuard`). */
export const EPOCH_MOVED = '_strata_epoch_moved:';

const list = (items: readonly SQLWrapper[]): SQL => sql.join([...items], sql`, `);

/**
 * The group's rows of `part` as a FROM item aliased `_strata_s`: c0…cn (the shape), then the version
 * when given, then `since` and the folded sets' `cols` (see `PlannedWrite.cols`) when folded.
 */
function source(group: WriteGroup, part: readonly PlannedWrite[]): SQL {
  const pk = group.schema.primaryKey;
  const columns = group.columns ?? [pk];
  const rows = part.map((w) => w.row ?? { [pk.key]: w.id });
  const extra = [
    ...(group.given ? [{ name: SOURCE_VERSION, type: 'bigint', values: part.map((w) => w.version) }] : []),
    ...(group.folded
      ? [
          { name: SOURCE_SINCE, type: 'bigint', values: part.map((w) => w.since ?? w.version) },
          { name: SOURCE_COLS, type: 'text', values: part.map((w) => w.cols ?? null) },
        ]
      : []),
    ...(group.floored
      ? [{ name: SOURCE_FLOOR, type: 'bigint', values: part.map((w) => w.floor ?? null) }]
      : []),
  ];
  return group.recordset
    ? recordsetSource('_strata_s', columns, rows, extra)
    : valuesSource('_strata_s', columns, rows, extra);
}

/** The source column holding the primary key. */
function sourceKey(group: WriteGroup): SQL {
  const columns = group.columns ?? [group.schema.primaryKey];
  return sql`${SRC}.${id(`c${columns.indexOf(group.schema.primaryKey)}`)}`;
}

/** The mark that tells the capture trigger this statement's keys are Strata's own (see own-writes.ts). */
const ownMark = (mark: OwnWritesMark, group: WriteGroup) =>
  mark(group.schema.identity, sql`${sourceKey(group)}::text`, SRC, group.app);

/** In the error a single-statement delete raises when its snapshot is stale (see `sameAsSnapshot`). */
export const STALE_SNAPSHOT = '_strata_stale_snapshot:';

/**
 * A single-statement delete's guard: the key's version row, now locked, must be the one the
 * statement's snapshot shows. If another writer committed the key after the snapshot was taken, the
 * DELETE (which finds rows by that snapshot) would miss a row that writer inserted and leave it
 * behind a tombstone. Then the statement fails with STALE_SNAPSHOT (a cast error: nothing of it
 * stays) and the write runs as a transaction, whose DELETE comes after the lock and sees that row.
 */
function sameAsSnapshot(versions: VersionsTable): SQL {
  const seen = id('_strata_seen');
  const snapshot = sql`(select ${seen}."version" from ${versions} as ${seen} where ${seen}."schema" = ${VT}."schema" and ${seen}."id" = ${VT}."id")`;
  return sql`case when ${VT}."version" is not distinct from ${snapshot} then true else cast(${STALE_SNAPSHOT}::text || ${VT}."id" as integer) = 0 end`;
}

/** The schema's latest epoch: its epoch row (`_strata_versions (identity, '')`); none reads 0. */
function latestEpoch(versions: VersionsTable, identity: SQLWrapper): SQL {
  const e = id('_strata_e');
  return sql`coalesce((select ${e}."version" from ${versions} as ${e} where ${e}."schema" = ${identity} and ${e}."id" = ''), 0)`;
}

/** The first version of the schema's latest epoch (0 where none was started). */
function epochBase(versions: VersionsTable, group: WriteGroup): SQL {
  return sql`${latestEpoch(versions, sql`${group.schema.identity}::text`)} * ${EPOCH_SPAN}::bigint`;
}

/**
 * A write's epoch guard (see `WriteOp.epoch`): true while the schema's latest epoch (its epoch row,
 * `_strata_versions (identity, '')`; none reads 0) is at most `epoch`; else the statement fails with
 * EPOCH_MOVED and that epoch (a cast error: nothing of it stays), and the engine learns which
 * counters its app has before it writes again. Read as the statement starts (READ COMMITTED): an
 * epoch started before a write-behind write was acknowledged is seen by every write begun after it.
 */
function epochGuard(versions: VersionsTable, identity: SQLWrapper, epoch: unknown): SQL {
  const latest = latestEpoch(versions, identity);
  // A null epoch (a schema of a transaction's statement that sent none) asks nothing.
  return sql`case when ${epoch}::bigint is null or ${latest} <= ${epoch}::bigint then true else cast(${EPOCH_MOVED}::text || ${latest}::text as integer) = 0 end`;
}

/**
 * A Redis-ordered write's guard: no version it stands for (from the first write a fold holds to its
 * own) was withdrawn (`L3Tier.withdraw`: a dead letter a Redis rollback brought back, or a
 * redelivery of one). Not recorded, it is refused as older is: nothing applied; a fold so refused
 * is applied one write at a time (as one a transaction interrupted), the withdrawn one refused alone.
 */
const unwithdrawn = (versions: VersionsTable, identity: SQL, key: SQL, since: SQL, version: SQL) =>
  sql`not ${withdrawnAt(versions, identity, key, since, version)}`;

/**
 * Records the versions of the source's keys, in key order ("C" collation: the same order every
 * Strata writer locks them in, so two never deadlock): the version after the stored one, or for
 * Redis-ordered writes the write's own where it is newer. Returns the keys it recorded.
 */
function recordVersions(versions: VersionsTable, group: WriteGroup, deleted: boolean): SQL {
  // A floor (see `Write.floor`): the key takes it where the stored version is below it (`belowFloor`:
  // greatest(stored + 1, floor) is the floor then); none (null) is stored + 1. A Postgres-ordered
  // write (epoch-guarded, no floor) also goes no lower than its latest epoch's first version: a
  // write-through app that took the table from a write-behind app started that epoch (`claimWriter`),
  // so its writes are above the old owner's still queued (they flush as older); no epoch, stored + 1.
  const base = group.epoch !== undefined ? sql`greatest(1, ${epochBase(versions, group)})` : sql`1`;
  const version = group.given
    ? sql`${SRC}.${id(SOURCE_VERSION)}`
    : group.floored
      ? sql`coalesce(${SRC}.${id(SOURCE_FLOOR)}, ${base})`
      : base;
  const next = group.given
    ? sql`excluded."version"`
    : group.floored || group.epoch !== undefined
      ? sql`greatest(${VT}."version" + 1, excluded."version")`
      : sql`${VT}."version" + 1`;
  const key = sql`${sourceKey(group)}::text`;
  const conditions = [
    ...(group.given ? [sql`${VT}."version" < excluded."version"`] : []),
    ...(group.floored
      ? [belowFloor(sql`(select ${SRC}.${id(SOURCE_FLOOR)} from ${SRC} where ${key} = ${VT}."id")`)]
      : []),
    ...(group.folded
      ? [untouchedSince(sql`(select ${SRC}.${id(SOURCE_SINCE)} from ${SRC} where ${key} = ${VT}."id")`)]
      : []),
    ...(deleted ? [sameAsSnapshot(versions)] : []),
  ];
  const where = conditions.length > 0 ? sql` where ${sql.join(conditions, sql` and `)}` : sql``;
  const guard =
    group.epoch !== undefined
      ? sql` where ${epochGuard(versions, sql`${group.schema.identity}::text`, group.epoch)}`
      : group.given
        ? sql` where ${unwithdrawn(versions, sql`${group.schema.identity}::text`, key, sql`${SRC}.${id(group.folded ? SOURCE_SINCE : SOURCE_VERSION)}`, version)}`
        : sql``;
  // Every write of a group has one shape: the first one's columns are all of theirs.
  const sent = group.writes[0]?.sent;
  const proposed = sent
    ? proposedCols(sql`${JSON.stringify(sent)}::text`, version)
    : group.columns && !group.replace
      ? wholeCols(group.schema, version)
      : sql`null::jsonb`;
  // A folded set's columns at their own versions, where some were set below its own.
  const cols = group.folded ? sql`coalesce(${SRC}.${id(SOURCE_COLS)}::jsonb, ${proposed})` : proposed;
  return sql`insert into ${versions} as ${VT} ("schema", "id", "version", "deleted", "cols") select ${group.schema.identity}::text, ${key}, ${version}, ${deleted}::boolean, ${cols} from ${SRC}${guard} order by ${key} collate "C" on conflict ("schema", "id") do update set "version" = ${next}, "deleted" = excluded."deleted", "updated_at" = now(), ${colsAfter(next)}${where} returning "id" as ${id(KEY)}, "version" as ${id(VERSION)}`;
}

/**
 * The `cols` a partial set proposes for a key with no version row (see `VersionsTable`'s `cols`):
 * '' at 0 (the columns it leaves out were set before any version) and each column it sets (`sent`,
 * a JSON array of SQL names) at `at`. A whole row or a delete proposes null.
 */
function proposedCols(sent: SQL, at: SQL): SQL {
  const k = id('_strata_k');
  return sql`jsonb_build_object('', 0) || coalesce((select jsonb_object_agg(${k}, ${at}) from jsonb_array_elements_text(${sent}::jsonb) as ${k}), '{}'::jsonb)`;
}

/**
 * The `cols` a whole set (not a replace) proposes: null (every column set at its version), or, where
 * its table has a column the schema does not map (a rolling deploy's other version added it; see
 * `TableColumns`), the columns it set, as a partial set's.
 *
 * In a transaction (several groups) this is read by the versions statement, before the row
 * statement takes its lock on the table: an ALTER committed between the two is not seen, and the set
 * is recorded whole, as it is where the ALTER commits just after the transaction (a version row
 * cannot tell the two apart). Left so: the row statement could only correct `cols` by rewriting the
 * version row, where the versions statement already replaced the key's earlier `cols` (a partial
 * record is built on them), or, were the versions statement to record every whole set as partial
 * first, by writing each whole set's version row twice in every transaction. And a write ordered
 * below it that sets the added column runs after the ALTER, so its version was reserved after it; one
 * counter then reserved the whole set's after it too, and its versions statement sees the column.
 */
function wholeCols(schema: CompiledSchema, at: SQL): SQL {
  const settable = schema.columns.filter((c) => c !== schema.primaryKey && !cannotBeSet(c.column));
  const names = JSON.stringify(settable.map((c) => c.name));
  const mapped = schema.columns.map((c) => c.name);
  return sql`case when ${beyond(schema, mapped)} then ${proposedCols(sql`${names}::text`, at)} end`;
}

/**
 * A versions statement's `"c"` of a replace, which proposes null `cols` (it sets every column) where
 * a whole set's null `"c"` asks `wholeCols`. A part with neither a partial set nor a replace sends no `"c"`.
 */
const REPLACED = '-';
/** A write whose versions row has a `"c"`: a partial set, or a replace. */
export const namesColumns = (w: PlannedWrite) =>
  w.sent !== undefined || (w.row !== undefined && w.replace === true);

/**
 * ON CONFLICT's `cols`: a whole row or a delete (proposed null) sets every column at `next`; a
 * partial set moves the columns it sets (the proposal's keys) to `next` and keeps the others' (those
 * never named, at the version the key held: a row made whole then, or a delete). A folded set's
 * column proposed below the write's version (see `PlannedWrite.cols`) is recorded at it; a folded
 * replace's '' (above 0: the delete's version) resets the columns not named, so its `cols` replace
 * the stored ones.
 */
function colsAfter(next: SQL): SQL {
  const k = id('_strata_k');
  const proposed = sql`(excluded."cols" ->> ${k})::bigint`;
  const at = sql`case when ${proposed} < excluded."version" then ${proposed} else ${next} end`;
  const replaced = sql`(select jsonb_object_agg(${k}, ${at}) from jsonb_object_keys(excluded."cols") as ${k})`;
  return sql`"cols" = case when excluded."cols" is null then null when (excluded."cols" ->> '')::bigint > 0 then ${replaced} else coalesce(${VT}."cols", jsonb_build_object('', ${VT}."version")) || coalesce((select jsonb_object_agg(${k}, ${at}) from jsonb_object_keys(excluded."cols") as ${k} where ${k} <> ''), '{}'::jsonb) end`;
}

/**
 * A folded write's guard (see `Write.since`): the key's version row, as locked (the latest
 * committed, not the statement's snapshot), is older than the first write folded, so no other write
 * of the key landed among them. `since` is a subquery on the statement's source: ON CONFLICT's
 * condition sees only the target row and `excluded`.
 */
function untouchedSince(since: SQL): SQL {
  return sql`${VT}."version" < ${since}`;
}

/**
 * A floored write's guard (see `Write.floor`): it applies only where the stored version, as locked,
 * is below its floor (a number the counter handed out to it alone); a write that landed first with a
 * higher version stands, and the floored one is skipped as older. Storing above the floor instead
 * would mint a version the counter hands out later, and the write that takes it would be taken for
 * a redelivery (reliability/test/probe-marks-skipped-shapes.test.ts). A null floor always applies.
 * `floor` is a subquery on the statement's source, as `untouchedSince`'s `since` is.
 */
function belowFloor(floor: SQL): SQL {
  return sql`${VT}."version" < coalesce(${floor}, ${VT}."version" + 1)`;
}

function insertRows(group: WriteGroup, condition: SQL): SQL {
  const { schema } = group;
  const columns = group.columns!;
  const names = list(columns.map((c) => id(c.name)));
  const cells = list(columns.map((_, i) => sql`${SRC}.${id(`c${i}`)}`));
  const set = Object.entries(
    conflictSet(
      schema,
      group.writes.map((w) => w.row!),
      group.replace,
      group.defaults,
    ),
  ).map(([key, value]) => sql`${id(schema.columnsByKey.get(key)?.name ?? key)} = ${value}`);
  // A replace by a schema that maps fewer columns than its table has: the others as a new row has them.
  for (const name of group.unmapped ?? []) set.push(sql`${id(name)} = default`);
  // ...all of them: another deploy may have added one since they were learnt.
  const where = group.replace
    ? sql`${condition} and ${moved(schema, [...schema.columns.map((c) => c.name), ...(group.unmapped ?? [])])}`
    : condition;
  return sql`insert into ${schema.table} (${names}) select ${cells} from ${SRC} where ${where} on conflict (${id(schema.primaryKey.name)}) do update set ${list(set)} returning *`;
}

function deleteRows(group: WriteGroup, condition: SQL): SQL {
  const pk = id(group.schema.primaryKey.name);
  return sql`delete from ${group.schema.table} as ${T} using ${SRC} where ${T}.${pk} = ${sourceKey(group)} and ${condition} returning ${T}.${pk} as ${id(DELETED_PK)}`;
}

/**
 * One group in ONE statement, versions and rows together: the version rows are written first (the
 * rows read their keys from them), so a row is only ever locked by a writer that holds its key's
 * version row. Sets reply `RETURNING *` of each row written plus its version; deletes reply each key
 * recorded, its version and whether a row was there.
 */
export function singleStatement(
  versions: VersionsTable,
  group: WriteGroup,
  markOwn: OwnWritesMark | undefined,
): SQL {
  const pk = id(group.schema.primaryKey.name);
  const mark = markOwn ? ownMark(markOwn, group) : undefined;
  const recorded = sql`${sourceKey(group)}::text in (select ${id(KEY)} from ${V})${mark ? sql` and ${mark.marked}` : sql``}`;
  const head = sql`with ${SRC} as (select * from ${source(group, group.parts[0]!)}), ${V} as (${recordVersions(versions, group, !group.columns)})${mark ? sql`, ${mark.cte}` : sql``}`;
  if (group.columns) {
    return sql`${head}, ${W} as (${insertRows(group, recorded)}) select ${W}.*, ${V}.${id(VERSION)} from ${W} join ${V} on ${V}.${id(KEY)} = ${W}.${pk}::text`;
  }
  return sql`${head}, ${D} as (${deleteRows(group, recorded)}) select ${V}.${id(KEY)}, ${V}.${id(VERSION)}, exists (select 1 from ${D} where ${D}.${id(DELETED_PK)}::text = ${V}.${id(KEY)}) as ${id(EXISTED)} from ${V}`;
}

/**
 * Several groups in one transaction, first step: the version rows of every key of the call, in the
 * one lock order, `size` keys per statement. Postgres-ordered and Redis-ordered keys never share a
 * schema, so each statement holds one kind. Replies `schema, id, version` of each key recorded.
 */
export function versionStatements(
  db: Database,
  versions: VersionsTable,
  winners: readonly PlannedWrite[],
  size: number,
  epochs: ReadonlyMap<string, number> = new Map(),
): Statement[] {
  const statements: Statement[] = [];
  for (let at = 0; at < winners.length; ) {
    const given = winners[at]!.version !== undefined;
    let end = at;
    while (end < winners.length && end - at < size && (winners[end]!.version !== undefined) === given) end++;
    const part = winners.slice(at, end);
    statements.push(
      versionsOf(db, versions, part, {
        given,
        folded: part.some((w) => w.since !== undefined),
        floored: part.some((w) => w.floor !== undefined),
        epochs: given ? undefined : epochs,
      }),
    );
    at = end;
  }
  return statements;
}

function versionsOf(
  db: Database,
  versions: VersionsTable,
  writes: readonly PlannedWrite[],
  {
    given,
    folded,
    floored,
    epochs,
  }: { given: boolean; folded: boolean; floored: boolean; epochs: ReadonlyMap<string, number> | undefined },
): Statement {
  // Per row its schema's epoch guard (null: none), when some schema of the part has one.
  const guarded = epochs !== undefined && writes.some((w) => epochs.has(w.schema.identity));
  // Per row the columns it sends (null: a whole row or a delete; REPLACED), when some write of the
  // part is a partial set or a replace.
  const partial = writes.some(namesColumns);
  // A CTE, not a FROM item: the `since` subquery of ON CONFLICT's condition must see it.
  const names = `"s", "k", "d"${partial ? ', "c"' : ''}${given ? ', "v"' : ''}${folded ? ', "n", "a"' : ''}${floored ? ', "f"' : ''}${guarded ? ', "g"' : ''}`;
  const chunks: SQLChunk[] = [new StringChunk(`with "_strata_s" (${names}) as (values `)];
  writes.forEach((w, i) => {
    chunks.push(
      new StringChunk(i === 0 ? '(' : '), ('),
      sql.param(w.schema.identity),
      new StringChunk('::text, '),
    );
    chunks.push(sql.param(w.key), new StringChunk('::text, '), sql.param(w.row === undefined));
    chunks.push(new StringChunk('::boolean'));
    if (partial)
      chunks.push(
        new StringChunk(', '),
        sql.param(w.sent ? JSON.stringify(w.sent) : w.row && w.replace ? REPLACED : null),
        new StringChunk('::text'),
      );
    if (given) chunks.push(new StringChunk(', '), sql.param(w.version), new StringChunk('::bigint'));
    if (folded)
      chunks.push(
        new StringChunk(', '),
        sql.param(w.since ?? w.version),
        new StringChunk('::bigint, '),
        sql.param(w.cols ?? null),
        new StringChunk('::text'),
      );
    if (floored) chunks.push(new StringChunk(', '), sql.param(w.floor ?? null), new StringChunk('::bigint'));
    if (guarded)
      chunks.push(
        new StringChunk(', '),
        sql.param(epochs.get(w.schema.identity) ?? null),
        new StringChunk('::bigint'),
      );
  });
  chunks.push(new StringChunk(')) '));
  // A Postgres-ordered row of a guarded schema: no lower than its latest epoch's first version (see
  // `recordVersions`).
  const base = guarded
    ? sql`case when ${SRC}."g" is null then 1 else greatest(1, ${latestEpoch(versions, sql`${SRC}."s"`)} * ${EPOCH_SPAN}::bigint) end`
    : sql`1`;
  const version = given ? sql`${SRC}."v"` : floored ? sql`coalesce(${SRC}."f", ${base})` : base;
  // Per schema of the part's whole sets, their `cols` (see `wholeCols`).
  const wholes = [
    ...new Map(
      writes.filter((w) => w.row && !namesColumns(w)).map((w) => [w.schema.identity, w.schema]),
    ).values(),
  ];
  const whole =
    wholes.length === 0
      ? sql`null::jsonb`
      : sql`case when ${SRC}."d" then null else case ${SRC}."s" ${sql.join(
          wholes.map((schema) => sql`when ${schema.identity} then ${wholeCols(schema, version)}`),
          sql` `,
        )} end end`;
  const named = partial
    ? sql`case when ${SRC}."c" is null then ${whole} when ${SRC}."c" = ${REPLACED} then null else ${proposedCols(sql`${SRC}."c"`, version)} end`
    : whole;
  // A folded set's columns at their own versions (see `PlannedWrite.cols`).
  const proposed = folded ? sql`coalesce(${SRC}."a"::jsonb, ${named})` : named;
  const next = given
    ? sql`excluded."version"`
    : floored || guarded
      ? sql`greatest(${VT}."version" + 1, excluded."version")`
      : sql`${VT}."version" + 1`;
  const guard = guarded
    ? sql` where ${epochGuard(versions, sql`${SRC}."s"`, sql`${SRC}."g"`)}`
    : given
      ? sql` where ${unwithdrawn(versions, sql`${SRC}."s"`, sql`${SRC}."k"`, folded ? sql`${SRC}."n"` : version, version)}`
      : sql``;
  const since = sql`(select ${SRC}."n" from ${SRC} where ${SRC}."s" = ${VT}."schema" and ${SRC}."k" = ${VT}."id")`;
  const floor = sql`(select ${SRC}."f" from ${SRC} where ${SRC}."s" = ${VT}."schema" and ${SRC}."k" = ${VT}."id")`;
  const onlyNewer = given
    ? sql` where ${VT}."version" < excluded."version"${folded ? sql` and ${untouchedSince(since)}` : sql``}`
    : floored
      ? sql` where ${belowFloor(floor)}`
      : sql``;
  return db.execute(
    sql`${new SQL(chunks)}insert into ${versions} as ${VT} ("schema", "id", "version", "deleted", "cols") select ${SRC}."s", ${SRC}."k", ${version}, ${SRC}."d", ${proposed} from ${SRC}${guard} order by ${SRC}."s" collate "C", ${SRC}."k" collate "C" on conflict ("schema", "id") do update set "version" = ${next}, "deleted" = excluded."deleted", "updated_at" = now(), ${colsAfter(next)}${onlyNewer} returning "schema", "id", "version"`,
  ) as unknown as Statement;
}

/**
 * Several groups in one transaction, second step: a part's rows. Redis-ordered rows in a `db.batch`
 * (no results between statements) apply only where this transaction recorded their version: the
 * version row holds theirs and was written now (`updated_at` is the transaction's start), which a
 * version recorded by an earlier delivery of the same write is not. `markOwn`: see own-writes.ts.
 */
export function dataStatement(
  db: Database,
  versions: VersionsTable,
  group: WriteGroup,
  part: readonly PlannedWrite[],
  {
    onlyVersionsRecordedNow,
    markOwn,
  }: { onlyVersionsRecordedNow: boolean; markOwn: OwnWritesMark | undefined },
): Statement {
  const recordedAt = (version: SQL) =>
    sql`exists (select 1 from ${versions} as ${VT} where ${VT}."schema" = ${group.schema.identity} and ${VT}."id" = ${sourceKey(group)}::text and ${VT}."version" = ${version} and ${VT}."updated_at" = now())`;
  // A floored write skipped as older (see `belowFloor`) must not touch the row either.
  const recordedNow = !onlyVersionsRecordedNow
    ? sql`true`
    : group.given
      ? recordedAt(sql`${SRC}.${id(SOURCE_VERSION)}`)
      : group.floored
        ? sql`(${SRC}.${id(SOURCE_FLOOR)} is null or ${recordedAt(sql`${SRC}.${id(SOURCE_FLOOR)}`)})`
        : sql`true`;
  const mark = markOwn ? ownMark(markOwn, group) : undefined;
  const won = mark ? sql`${recordedNow} and ${mark.marked}` : recordedNow;
  const from = sql`with ${SRC} as (select * from ${source(group, part)})${mark ? sql`, ${mark.cte}` : sql``} `;
  return db.execute(
    sql`${from}${group.columns ? insertRows(group, won) : deleteRows(group, won)}`,
  ) as unknown as Statement;
}
