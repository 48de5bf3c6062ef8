import { type SQL, sql } from 'drizzle-orm';
import { sqlStateOf } from '../l3/pg-errors.js';
import type { WriterClaim } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';
import { quoteIdentifier } from './identifiers.js';
import { rowsOf } from './rows.js';
import {
  besideVersions,
  highestEpoch,
  type VersionsTable,
  versionsTableStatements,
  withSchemaCreated,
} from './versions-table.js';
import { type WriteContext, withTable } from './write.js';

/** Also read by the capture trigger (trigger-ddl.ts `writeModeNow`). */
export const WRITERS_TABLE = '_strata_writers';

/** Where `_strata_writers` lives: beside `_strata_versions` (`migrationsSchema`). */
const writersTable = (versions: VersionsTable) => besideVersions(versions, WRITERS_TABLE);

/**
 * CREATE SCHEMA / TABLE IF NOT EXISTS for `_strata_writers`: per table identity, the app (its key
 * namespace) that writes it, its mode ('write-behind': exclusive, or 'write-through': shared with
 * other write-through apps, the row naming the last one that claimed), whether that app's version
 * counter was moved into a new epoch since it took the table, until when it holds it (Postgres'
 * clock), and the last other app whose write-through claim holds beside it, with the latest end of
 * such claims (`other`, `other_until`: an app may not take the table write-behind while another
 * app's write-through claim lives, even where the row names it). Created by the first claim, as
 * `_strata_versions` is by the first write; a table made before `other` existed gains the columns
 * at the first claim that finds them missing. `place`: for a table the schema leaves unqualified,
 * the Postgres schema the claiming session resolved it in (a tenant's, by search_path): two such
 * tables share an identity, and with Strata's tables in one `migrationsSchema` their version rows
 * too, so a claim of another place is refused while either is write-behind (see `claimWriter`).
 */
export function writersTableStatements(versions: VersionsTable): string[] {
  const { schema, name } = writersTable(versions);
  const create = `CREATE TABLE IF NOT EXISTS ${name} (schema text PRIMARY KEY, owner text NOT NULL, mode text NOT NULL, seeded boolean NOT NULL, expires_at timestamptz NOT NULL, other text, other_until timestamptz, place text)`;
  const columns = `ALTER TABLE ${name} ADD COLUMN IF NOT EXISTS other text, ADD COLUMN IF NOT EXISTS other_until timestamptz, ADD COLUMN IF NOT EXISTS place text`;
  return withSchemaCreated(schema, [create, columns]);
}

/**
 * `L3Tier.claimWriter`: one upsert that takes or renews the table's claim for `owner` (a lease of
 * 60 s from Postgres' now, never the app's clock) where the row lapsed, is already `owner`'s (a
 * write-behind claim: and no other app's write-through claim lives beside it), or both claims are
 * write-through (the app the row named becomes `other`). A claim that changes the row's owner or
 * mode starts unseeded, except a write-through claim of a table no app claimed yet (nothing is
 * above its counters). `ordered`: the claimant is a write-through instance that orders its writes
 * by the app's counters (`ThroughOrder`: it has L2 and L3); over its own app's live write-behind row
 * it changes neither mode nor `seeded` (it extends the lease): the worker need not reseed; over any
 * other row of its own app it keeps `seeded` (or sets it, `seeded`): a row a takeover left unseeded
 * (its counter move failed) stays so until an instance moves the counters. Without
 * it (an older Strata, an instance without L2: Postgres-ordered `version + 1` writes) the row flips
 * to write-through, unseeded, and the worker's next claim moves the counters into a new epoch. When
 * it is refused, the holder is read (a second statement, only then): the other app, where it is its
 * write-through claim that refuses the row's own owner.
 *
 * A write-through claim that takes another app's lapsed write-behind row also starts the table's
 * next epoch, in the same statement (`takeoverEpoch`).
 *
 * Another place (an unqualified table resolved in another Postgres schema: search_path tenants
 * sharing `migrationsSchema`) never takes a write-behind row, lapsed or not: the two tables' writes
 * bump one `_strata_versions` row per key, so a tenant that wrote while the other was away
 * outranked the other's queued writes, which its flush then dropped as older, acknowledged
 * (reliability/test/probe-hostile-7.test.ts). Two write-through tables share the row (their versions
 * only go up, and neither queues a write), and a lapsed write-through row may be taken write-behind
 * (its epoch is above every version either wrote). A row of a Strata that recorded no place takes any.
 */
export function claimWriter(
  ctx: WriteContext,
  schema: CompiledSchema,
  owner: string,
  exclusive: boolean,
  seeded: boolean,
  ordered = false,
): Promise<WriterClaim> {
  const w = sql.raw(writersTable(ctx.versions).name);
  const mode = exclusive ? 'write-behind' : 'write-through';
  const id = schema.identity;
  const same = sql.raw('w.owner = excluded.owner');
  const place = placeOf(schema);
  // Another table of this identity (see the comment above): it shares a write-through row, or takes
  // one over write-behind once it lapsed (a write-through app queues nothing); never a write-behind row.
  const samePlace = sql.raw(
    "(w.place is null or excluded.place is null or w.place = excluded.place or (w.mode <> 'write-behind' and (excluded.mode <> 'write-behind' or w.expires_at <= now())))",
  );
  return withTable(
    ctx,
    // `_strata_versions` too: the claim's statement names it (`takeoverEpoch`), and a first claim
    // may come before any write made it.
    (versions) => [...new Set([...versionsTableStatements(versions), ...writersTableStatements(versions)])],
    async () => {
      // In the table's column order.
      const live = sql.raw('w.expires_at > now()');
      // Another app's write-through claim beside the row's owner (see the table's comment).
      const others = sql.raw('(w.other_until is not null and w.other_until > now())');
      // A counter-ordered write-through claim (`ordered`) over its own app's live write-behind row:
      // the row stays as it is (mode, seeded), its lease the later of the two. The app's writes in
      // both modes are ordered by its counters, so flipping the row made the worker's next claim
      // take an epoch per bucket for nothing (packages/core/test/mixed-mode-epochs.test.ts).
      const keep = sql`(${ordered}::boolean and excluded.mode <> 'write-behind' and w.mode = 'write-behind' and ${same} and ${live})`;
      // Any other counter-ordered write-through claim over its own app's row keeps `seeded` (in
      // either mode, live or lapsed: no other app claimed since): a row left unseeded by a move not
      // made yet says so to every instance of the app (see `WriterClaims`).
      const own = sql`(${ordered}::boolean and excluded.mode <> 'write-behind' and ${same})`;
      // The caller's `seeded` (`excluded.seeded` is the new row's: true for a write-through claim of
      // a table no app claimed yet, nothing being above its counters).
      const moved = sql`${seeded}::boolean`;
      // A write-through claim taking another app's lapsed write-behind row starts a new epoch in the
      // same statement (see `takeoverEpoch`); `behind` reads the row as the statement's snapshot saw
      // it, before the claim (a stale snapshot errs towards one epoch more, or the claim is refused).
      const behind = exclusive
        ? sql`false`
        : sql`coalesce((select o.mode = 'write-behind' and o.expires_at <= now() and o.owner <> ${owner} from ${w} as o where o.schema = ${id}), false)`;
      const [claimed] = rowsOf(
        await ctx.db.execute(sql`with claimed as (insert into ${w} as w (schema, owner, mode, seeded, expires_at, place) values (${id}, ${owner}, ${mode}, ${seeded || !exclusive}, now() + interval '60 s', ${place})
on conflict (schema) do update set owner = excluded.owner, mode = case when ${keep} then w.mode else excluded.mode end, expires_at = case when ${keep} then greatest(w.expires_at, excluded.expires_at) else excluded.expires_at end, place = coalesce(excluded.place, w.place),
seeded = case when ${keep} then w.seeded when ${own} then w.seeded or ${moved} else ${moved} or (w.seeded and ${same} and w.mode = excluded.mode) end,
other = case when not ${live} then null when ${same} then w.other else w.owner end,
other_until = case when not ${live} then null when ${same} then w.other_until else greatest(w.expires_at, w.other_until) end
where ${samePlace} and (not ${live} or (${same} and (excluded.mode <> 'write-behind' or not ${others})) or (w.mode <> 'write-behind' and excluded.mode <> 'write-behind'))
returning (not seeded)::int as reseed, ${behind} as behind), ${takeoverEpoch(ctx.versions, schema)}
select reseed from claimed`),
      );
      if (claimed) return { owner, mode, reseed: Number(claimed.reseed) === 1 };
      // Refused: who holds it (lapsed since, it is named all the same; the next claim takes it).
      const [holder] = rowsOf(
        await ctx.db.execute(
          sql`select case when owner = ${owner} and ${others} then other else owner end as owner, case when owner = ${owner} and ${others} then 'write-through' else mode end as mode, place, ${place} as here from ${w} as w where schema = ${id}`,
        ),
      );
      const elsewhere =
        holder?.place != null && holder.here != null && holder.place !== holder.here
          ? { table: `${String(holder.place)}.${schema.tableName}` }
          : {};
      return { owner: String(holder?.owner), mode: String(holder?.mode), reseed: false, ...elsewhere };
    },
    missingColumns,
  );
}

/**
 * The CTE `claimWriter` runs after `claimed`: where a write-through claim took another app's lapsed
 * write-behind row, the schema's next epoch (as `nextEpochStatement`: past the last one started and
 * every version stored). That app may still have writes queued (cut off past its lease), at versions
 * of its epoch above Postgres' stored ones; the taker's writes, ordered by Postgres, go no lower than
 * the new epoch (`recordVersions`), so they stay above those writes, which flush as older (merged
 * column-wise). In the claim's statement: a claim that held cannot leave the move owed.
 */
function takeoverEpoch(versions: VersionsTable, schema: CompiledSchema): SQL {
  const highest = highestEpoch(versions, schema);
  return sql`epoch as (insert into ${versions} as v ("schema", "id", "version", "deleted") select ${schema.identity}, '', ${highest} + 1, false from claimed where claimed.behind on conflict ("schema", "id") do update set "version" = greatest(v."version", ${highest}) + 1, "updated_at" = now() returning 1)`;
}

/**
 * Where the session resolves `schema`'s table when the schema leaves it unqualified (its Postgres
 * schema's name, as text; null when no such table is there yet); null for a qualified table, whose
 * identity names its schema already.
 */
function placeOf(schema: CompiledSchema): SQL {
  if (schema.pgSchema !== undefined) return sql`null::text`;
  const table = quoteIdentifier(schema.tableName);
  return sql`(select n.nspname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = to_regclass(${table}))`;
}

/** undefined_column: a `_strata_writers` made before `other` or `place` existed (its statements add the columns). */
function missingColumns(error: unknown): boolean {
  return sqlStateOf(error) === '42703';
}
