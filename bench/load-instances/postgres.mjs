// The load bench's Postgres: a database of its own (created here, dropped at the end, with FORCE so a
// child killed mid-run cannot keep it), so that its pg_stat_database row counts this bench's
// transactions and nothing else's. The players table lives in a schema of the same unique name.
import { serviceUrls } from '@strata/devstack';
import { lapseWriterClaims } from '@strata/devstack/testing';
import { inArray } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { playerRow, playerTable } from '../lib/stack.mjs';
import { canonical } from './rows.mjs';

/** `postgres://…/<database>` for the machine's Postgres URL. */
function withDatabase(url, database) {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/**
 * Creates the database `name`, its table of `keys` player rows (ids `${idPrefix}0` …), and returns
 * what the bench needs of it. `drop()` removes the database whatever happened.
 */
export async function openLoadDatabase({ name, keys, idPrefix }) {
  const adminUrl = serviceUrls().databaseUrl;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database "${name}"`);
  const databaseUrl = withDatabase(adminUrl, name);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  pool.on('error', () => {});
  const db = drizzle(pool);
  const players = playerTable(name);
  let dropped = false;
  return {
    databaseUrl,
    schemaName: name,
    /** The table and its rows (after Strata's migrate made its own tables in the schema). */
    async seed() {
      const rows = Array.from({ length: keys }, (_, i) => playerRow(idPrefix, i));
      for (let i = 0; i < rows.length; i += 2_000) await db.insert(players).values(rows.slice(i, i + 2_000));
    },
    /**
     * Ends the writer claims of the cells run so far, as 60 s would after their instances stopped
     * (a write-behind app is refused beside another app's live claim: docs/semantics.md, "One
     * writer per table"). This bench's own database; nothing was claimed before the first cell.
     */
    lapseClaims: () => lapseWriterClaims(pool, name),
    /** Every row of the table. */
    rows: () => db.select().from(players),
    /** `{ id: canonical row }` as Postgres has them now. */
    async expected(ids) {
      const rows = await db.select().from(players).where(inArray(players.id, ids));
      const byId = Object.fromEntries(ids.map((id) => [id, 'absent']));
      for (const row of rows) byId[row.id] = canonical(row);
      return byId;
    },
    /** Transactions committed in the database so far (flushed by backends at the latest on exit). */
    async commits() {
      const { rows } = await pool.query(
        'select xact_commit::bigint as n from pg_stat_database where datname = $1',
        [name],
      );
      return Number(rows[0]?.n ?? Number.NaN);
    },
    async drop() {
      if (dropped) return;
      dropped = true;
      await pool.end().catch(() => {});
      await admin.query(`drop database if exists "${name}" with (force)`);
      await admin.end();
    },
  };
}
