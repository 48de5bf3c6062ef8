import { sql } from 'drizzle-orm';
import type { Database } from './database.js';
import { rowsOf } from './rows.js';

/**
 * On a standby, how far it has replayed; on a primary, its WAL insert position: past the commit
 * record of every transaction that has returned, synchronous or not (`pg_current_wal_lsn()`, the
 * write position, may lag an asynchronous commit). Both as bytes from 0/0 (exact below 2^53).
 * An insert position right after a page header is a few bytes past the last record's end, so a
 * replica may look behind it until the next record arrives: reads then go to the primary (safe).
 */
const POSITION = sql.raw(
  "select (case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_insert_lsn() end - '0/0')::text as n",
);

/** See `L3Tier.walPosition`. */
export async function walPosition(db: Database): Promise<number> {
  const [row] = rowsOf(await db.execute(POSITION));
  return Number(row?.n);
}
