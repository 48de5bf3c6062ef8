import { sql } from 'drizzle-orm';
import { getTableConfig } from 'drizzle-orm/pg-core';
import type { WriterClaim } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';
import { qualifiedName, quoteIdentifier } from './identifiers.js';
import { rowsOf } from './rows.js';
import type { VersionsTable } from './versions-table.js';
import { type WriteContext, withTable } from './write.js';

const WRITERS_TABLE = '_strata_writers';

/** Where `_strata_writers` lives: beside `_strata_versions` (`migrationsSchema`). */
function writersTable(versions: VersionsTable): { schema: string | undefined; name: string } {
  const schema = getTableConfig(versions).schema;
  return { schema, name: qualifiedName(schema, WRITERS_TABLE) };
}

/**
 * CREATE SCHEMA / TABLE IF NOT EXISTS for `_strata_writers`: per table identity, the app (its key
 * namespace) that writes it, its mode ('write-behind': exclusive, or 'write-through': shared with
 * other write-through apps, the row naming the last one that claimed), whether that app's version
 * counter was moved into a new epoch since it took the table, and until when it holds it (Postgres'
 * clock). Created by the first claim, as `_strata_versions` is by the first write.
 */
export function writersTableStatements(versions: VersionsTable): string[] {
  const { schema, name } = writersTable(versions);
  const create = `CREATE TABLE IF NOT EXISTS ${name} (schema text PRIMARY KEY, owner text NOT NULL, mode text NOT NULL, seeded boolean NOT NULL, expires_at timestamptz NOT NULL)`;
  return schema === undefined ? [create] : [`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`, create];
}

/**
 * `L3Tier.claimWriter`: one upsert that takes or renews the table's claim for `owner` (a lease of
 * 60 s from Postgres' now, never the app's clock) where the row lapsed, is already `owner`'s, or
 * both claims are write-through. A claim that changes the row's owner or mode starts unseeded. When
 * it is refused, the holder is read (a second statement, only then).
 */
export function claimWriter(
  ctx: WriteContext,
  schema: CompiledSchema,
  owner: string,
  exclusive: boolean,
  seeded: boolean,
): Promise<WriterClaim> {
  const w = sql.raw(writersTable(ctx.versions).name);
  const mode = exclusive ? 'write-behind' : 'write-through';
  const id = schema.identity;
  const same = sql.raw('w.owner = excluded.owner');
  return withTable(ctx, writersTableStatements, async () => {
    // In the table's column order.
    const [claimed] = rowsOf(
      await ctx.db.execute(sql`insert into ${w} as w values (${id}, ${owner}, ${mode}, ${seeded}, now() + interval '60 s')
on conflict (schema) do update set owner = excluded.owner, mode = excluded.mode, expires_at = excluded.expires_at,
seeded = excluded.seeded or (w.seeded and ${same} and w.mode = excluded.mode)
where w.expires_at <= now() or ${same} or (w.mode <> 'write-behind' and excluded.mode <> 'write-behind')
returning (not seeded)::int as reseed`),
    );
    if (claimed) return { owner, mode, reseed: Number(claimed.reseed) === 1 };
    // Refused: who holds it (lapsed since, it is named all the same; the next claim takes it).
    const [holder] = rowsOf(await ctx.db.execute(sql`select owner, mode from ${w} where schema = ${id}`));
    return { owner: String(holder?.owner), mode: String(holder?.mode), reseed: false };
  });
}
