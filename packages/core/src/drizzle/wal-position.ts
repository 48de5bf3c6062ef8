import { sql } from 'drizzle-orm';
import type { Database } from './database.js';
import { rowsOf } from './rows.js';

/**
 * On a standby, what it has replayed. On a primary, how far its WAL is written: `pg_current_wal_lsn()`
 * (the write position) covers every commit that has returned when commits are synchronous (the
 * default: the commit record is written and flushed before COMMIT returns); with
 * `synchronous_commit = off` it may lag, so the insert position is read instead, which covers every
 * commit made. Both in the end-of-record form a replica's replay position uses.
 */
const POSITION = sql.raw(
  "select (case when pg_is_in_recovery() then pg_last_wal_replay_lsn() when current_setting('synchronous_commit') = 'off' then pg_current_wal_insert_lsn() else pg_current_wal_lsn() end)::text as lsn",
);

/** An LSN (`16/B374D848`) as a byte offset: exact up to 2^53 bytes of WAL (8 PiB). */
export function lsnBytes(lsn: string): number {
  const [hi, lo] = lsn.split('/');
  const bytes = Number.parseInt(hi ?? '', 16) * 2 ** 32 + Number.parseInt(lo ?? '', 16);
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`not an LSN: ${lsn}`);
  return bytes;
}

/** See `L3Tier.walPosition`. */
export async function walPosition(db: Database): Promise<number> {
  const [row] = rowsOf(await db.execute(POSITION));
  return lsnBytes(String(row?.lsn));
}
